#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "blob/blob_store.hpp"

namespace skiff::blob {

// A local file: known size, random access (parallel block uploads read it directly).
class FileSource : public Source {
 public:
  explicit FileSource(const std::filesystem::path& path);
  ~FileSource() override;
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  size_t read(char* buffer, size_t capacity) override;
  std::optional<uint64_t> size() const override { return size_; }
  bool supportsReadAt() const override { return true; }
  size_t readAt(uint64_t offset, char* buffer, size_t capacity) override;

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  uint64_t position_ = 0;
};

// Bytes in memory (not copied: they must outlive the source).
class MemorySource : public Source {
 public:
  explicit MemorySource(std::string_view data) : data_(data) {}
  size_t read(char* buffer, size_t capacity) override;
  std::optional<uint64_t> size() const override { return data_.size(); }
  bool supportsReadAt() const override { return true; }
  size_t readAt(uint64_t offset, char* buffer, size_t capacity) override;

 private:
  std::string_view data_;
  size_t position_ = 0;
};

// A stream of unknown length, such as stdin or a pipe.
class FdSource : public Source {
 public:
  explicit FdSource(int fd) : fd_(fd) {}
  size_t read(char* buffer, size_t capacity) override;
  std::optional<uint64_t> size() const override { return std::nullopt; }

 private:
  int fd_;
};

// Fills `buffer` completely unless the source ends first; returns the bytes read.
size_t readFully(Source& source, char* buffer, size_t capacity);
// The same from `offset`, for sources that supportsReadAt(); safe from many threads.
size_t readFullyAt(Source& source, uint64_t offset, char* buffer, size_t capacity);

}  // namespace skiff::blob
