#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "blob/blob_store.hpp"
#include "common/packed_names.hpp"

namespace skiff::blob {

// A blob being written in parts: a hidden temp file next to the target,
// removed on destruction unless FileStore::commitFile moved it into place.
struct PendingFile {
  std::string name;
  std::filesystem::path temp;
  int fd = -1;

  ~PendingFile();
  // Thread-safe: parts may be written in parallel at any offset.
  void writeAt(uint64_t offset, const char* data, size_t size);
};

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
  bool renameInPlace(const std::string& from, const std::string& to) override;

  // Writing a blob from parts (parallel downloads write straight into it):
  // begin, writeAt from any thread, then commit with put's semantics
  // (conditions checked, metadata set, atomic rename).
  std::unique_ptr<PendingFile> beginFile(const std::string& name);
  BlobProperties commitFile(PendingFile& pending, const PutOptions& options);

 private:
  // Names below one directory, sorted, packed in one string (a directory of
  // millions of files is listed through a mount: per name, its bytes past the
  // directory and 4 more). A prefix ("directory") ends in '/'.
  class ListedNames {
   public:
    explicit ListedNames(std::string directory) : directory_(std::move(directory)) {}
    void add(std::string_view fullName);  // starts with the directory
    void sort();
    size_t size() const { return relative_.size(); }
    std::string name(size_t index) const { return directory_ + std::string(relative_[index]); }
    bool isPrefix(size_t index) const { return relative_[index].ends_with('/'); }
    // The index of the first name after `marker`.
    size_t firstAfter(const std::string& marker) const;

   private:
    std::string directory_;
    PackedNames relative_;  // each name without the directory
  };
  // The names a listing covers, sorted: read from the directory for a first
  // page, and taken again by the pages that continue it (a marker) from the
  // snapshot of the last listing, so a directory of N names is read and
  // sorted once, not once per page.
  std::shared_ptr<const ListedNames> namesToList(const ListOptions& options);

  std::mutex snapshotMutex_;
  std::string snapshotKey_;  // prefix and delimiter of the last listing
  std::chrono::steady_clock::time_point snapshotTaken_;
  std::shared_ptr<const ListedNames> snapshot_;
};

// Whether a file name is one of FileStore's in-flight temp files (hidden from listings).
bool isTempFileName(std::string_view fileName);

}  // namespace skiff::blob
