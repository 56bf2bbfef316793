#include "blob/sources.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.hpp"

namespace skiff::blob {
namespace {

size_t checkedRead(ssize_t got, const std::string& what) {
  if (got < 0) throw Error(std::string("cannot read: ") + std::strerror(errno), what);
  return static_cast<size_t>(got);
}

}  // namespace

FileSource::FileSource(const std::filesystem::path& path) : path_(path.string()) {
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    throw Error(std::string("cannot open: ") + std::strerror(errno), path_,
                "check that the file exists and is readable");
  }
  struct stat st {};
  ::fstat(fd_, &st);
  if (S_ISDIR(st.st_mode)) {
    ::close(fd_);
    throw Error("is a directory", path_, "use -r to copy a directory");
  }
  size_ = static_cast<uint64_t>(st.st_size);
}

FileSource::~FileSource() {
  if (fd_ >= 0) ::close(fd_);
}

size_t FileSource::read(char* buffer, size_t capacity) {
  const size_t got = readAt(position_, buffer, capacity);
  position_ += got;
  return got;
}

size_t FileSource::readAt(uint64_t offset, char* buffer, size_t capacity) {
  ssize_t got;
  do {
    got = ::pread(fd_, buffer, capacity, static_cast<off_t>(offset));
  } while (got < 0 && errno == EINTR);
  return checkedRead(got, path_);
}

size_t MemorySource::read(char* buffer, size_t capacity) {
  const size_t got = readAt(position_, buffer, capacity);
  position_ += got;
  return got;
}

size_t MemorySource::readAt(uint64_t offset, char* buffer, size_t capacity) {
  if (offset >= data_.size()) return 0;
  const size_t bytes = std::min<size_t>(capacity, data_.size() - offset);
  std::memcpy(buffer, data_.data() + offset, bytes);
  return bytes;
}

size_t FdSource::read(char* buffer, size_t capacity) {
  ssize_t got;
  do {
    got = ::read(fd_, buffer, capacity);
  } while (got < 0 && errno == EINTR);
  return checkedRead(got, "standard input");
}

size_t readFully(Source& source, char* buffer, size_t capacity) {
  size_t filled = 0;
  while (filled < capacity) {
    const size_t got = source.read(buffer + filled, capacity - filled);
    if (got == 0) break;
    filled += got;
  }
  return filled;
}

size_t readFullyAt(Source& source, uint64_t offset, char* buffer, size_t capacity) {
  size_t filled = 0;
  while (filled < capacity) {
    const size_t got = source.readAt(offset + filled, buffer + filled, capacity - filled);
    if (got == 0) break;
    filled += got;
  }
  return filled;
}

}  // namespace skiff::blob
