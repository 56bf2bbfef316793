#pragma once

#include "blob/blob_store.hpp"

namespace skiff::blob {

// Blob semantics over the local file system (file://), the embedded default.
// - Names are paths below "/" (without the leading slash).
// - ETags derive from inode, size and mtime, so any change to a file shows.
// - put writes a hidden temp file next to the target and renames it over, so
//   readers see the old or the new blob, never half of one; metadata lives in
//   the temp file's xattrs (user.skiff.*) and so switches with the content.
// - Conditions are checked under an flock of the parent directory, so two
//   skiff writers cannot both win a conditional write.
class FileStore : public BlobStore {
 public:
  std::string uriOf(std::string_view name) const override;
  ListPage list(const ListOptions& options) override;
  std::optional<BlobProperties> head(const std::string& name) override;
  BlobProperties get(const std::string& name, const Sink& sink, const ByteRange& range,
                     const Conditions& conditions, const ProgressCallback& progress) override;
  BlobProperties put(const std::string& name, Source& source, const PutOptions& options,
                     const ProgressCallback& progress) override;
  void remove(const std::string& name, const Conditions& conditions) override;
  BlobProperties copy(const std::string& from, const std::string& to) override;
  void ensureContainer() override {}
};

// Whether a file name is one of FileStore's in-flight temp files (hidden from listings).
bool isTempFileName(std::string_view fileName);

}  // namespace skiff::blob
