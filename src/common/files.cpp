#include "common/files.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "common/error.hpp"

namespace skiff {

namespace fs = std::filesystem;

namespace {

std::string sizeText(uint64_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return fmt::format("{} MiB", bytes >> 20);
  if (bytes >= (1u << 10) && bytes % (1u << 10) == 0) return fmt::format("{} KiB", bytes >> 10);
  return fmt::format("{} bytes", bytes);
}

}  // namespace

std::string readSmallFile(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string readTrimmedFile(const fs::path& file) {
  std::string text = readSmallFile(file);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  return text;
}

void writeFileAtomically(const fs::path& file, const std::string& content) {
  const fs::path temporary = file.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out.flush()) throw Error("cannot write", temporary.string(), "is the disk full?");
  }
  std::error_code error;
  fs::rename(temporary, file, error);
  if (error) throw Error("cannot write: " + error.message(), file.string());
}

std::string readBoundedFile(const fs::path& file, uint64_t maxBytes, const std::string& raiseHint) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    throw Error(fmt::format("cannot read the file: {}", std::strerror(errno)), file.string(),
                "check the path and its permissions");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error("not a regular file (a device, FIFO or directory is never read as input)",
                file.string(), "point it at a plain file");
  }
  const std::string limit =
      fmt::format("the file is larger than the limit of {}", sizeText(maxBytes));
  if (static_cast<uint64_t>(st.st_size) > maxBytes) {
    ::close(fd);
    throw Error(limit, file.string(), raiseHint);
  }
  // The size may change while we read: never read more than the limit allows.
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t used = 0;
  for (;;) {
    if (used == text.size()) {
      if (text.size() > maxBytes) break;
      text.resize(std::min<uint64_t>(maxBytes + 1, text.size() + 65536));
    }
    const ssize_t got = ::read(fd, text.data() + used, text.size() - used);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int error = errno;
      ::close(fd);
      throw Error(fmt::format("cannot read the file: {}", std::strerror(error)), file.string());
    }
    if (got == 0) break;
    used += static_cast<size_t>(got);
  }
  ::close(fd);
  if (used > maxBytes) throw Error(limit, file.string(), raiseHint);
  text.resize(used);
  return text;
}

void makePrivateDirectory(const fs::path& dir) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (::chmod(dir.c_str(), 0700) != 0) {
    throw Error(
        fmt::format("cannot make the directory private (mode 0700): {}", std::strerror(errno)),
        dir.string(), "check that you own it");
  }
}

int openPrivateFile(const fs::path& file, int flags) {
  const int fd = ::open(file.c_str(), flags | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0 || ::fchmod(fd, 0600) != 0) {
    const int error = errno;
    if (fd >= 0) ::close(fd);
    throw Error(fmt::format("cannot open the file: {}", std::strerror(error)), file.string(),
                "check that you own it");
  }
  return fd;
}

void makePrivateFile(const fs::path& file) {
  if (::chmod(file.c_str(), 0600) != 0 && errno != ENOENT) {
    throw Error(fmt::format("cannot make the file private (mode 0600): {}", std::strerror(errno)),
                file.string(), "check that you own it");
  }
}

}  // namespace skiff
