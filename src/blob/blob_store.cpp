#include "blob/blob_store.hpp"

#include <iterator>

namespace skiff::blob {

std::vector<BlobProperties> listAll(BlobStore& store, const std::string& prefix) {
  std::vector<BlobProperties> all;
  ListOptions options;
  options.prefix = prefix;
  do {
    ListPage page = store.list(options);
    std::move(page.blobs.begin(), page.blobs.end(), std::back_inserter(all));
    options.marker = page.nextMarker;
  } while (!options.marker.empty());
  return all;
}

}  // namespace skiff::blob
