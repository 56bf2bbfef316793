#include "blob/blob_store.hpp"

#include <iterator>

#include "blob/errors.hpp"

namespace skiff::blob {

bool isDirectoryMarker(const Metadata& metadata) {
  const auto it = metadata.find(kDirectoryMarkerKey);
  return it != metadata.end() && (it->second == "true" || it->second == "True");
}

BlobProperties BlobStore::getUnordered(const std::string& name, const PositionalSink& sink,
                                       const ProgressCallback& progress) {
  uint64_t offset = 0;
  return get(
      name,
      [&](const char* data, size_t size) {
        sink(offset, data, size);
        offset += size;
      },
      {}, {}, progress);
}

BlobProperties BlobStore::append(const std::string& name, Source&, const PutOptions&) {
  throw BlobError(ErrorKind::kInvalid, "this store has no append blobs", uriOf(name),
                  "copy the whole blob instead (without --blob-type append)");
}

std::vector<BlobProperties> listAll(BlobStore& store, const std::string& prefix,
                                    bool withMetadata) {
  std::vector<BlobProperties> all;
  ListOptions options;
  options.prefix = prefix;
  options.withMetadata = withMetadata;
  do {
    ListPage page = store.list(options);
    std::move(page.blobs.begin(), page.blobs.end(), std::back_inserter(all));
    options.marker = page.nextMarker;
  } while (!options.marker.empty());
  return all;
}

}  // namespace skiff::blob
