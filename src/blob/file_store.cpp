#include "blob/file_store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>

#include "blob/errors.hpp"
#include "blob/sources.hpp"

namespace skiff::blob {
namespace fs = std::filesystem;
namespace {

constexpr const char* kTempPrefix = ".skiff-tmp-";
constexpr const char* kMetaPrefix = "user.skiff.meta.";
constexpr const char* kContentTypeAttr = "user.skiff.content-type";
constexpr size_t kIoBuffer = 1 << 20;

// Closes a descriptor on scope exit.
struct Fd {
  int fd = -1;
  explicit Fd(int value) : fd(value) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

std::string uriFor(std::string_view name) {
  return "file:///" + std::string(name);
}

[[noreturn]] void throwErrno(int error, const std::string& action, std::string_view name) {
  const ErrorKind kind = error == ENOENT                       ? ErrorKind::kNotFound
                         : (error == EACCES || error == EPERM) ? ErrorKind::kAuth
                                                               : ErrorKind::kOther;
  throw BlobError(kind, fmt::format("cannot {}: {}", action, std::strerror(error)), uriFor(name));
}

// Blob names are paths below "/": no empty, "." or ".." segments.
void checkName(std::string_view name) {
  if (name.empty() || name.back() == '/') {
    throw BlobError(ErrorKind::kInvalid, "not a blob name (it names a directory)", uriFor(name),
                    "give the path of a file");
  }
  size_t start = 0;
  while (start <= name.size()) {
    const size_t end = std::min(name.find('/', start), name.size());
    const std::string_view segment = name.substr(start, end - start);
    if (segment.empty() || segment == "." || segment == "..") {
      throw BlobError(ErrorKind::kInvalid, "a blob name has an empty, '.' or '..' segment",
                      uriFor(name));
    }
    start = end + 1;
  }
}

fs::path pathOf(std::string_view name) {
  return fs::path("/") / std::string(name);
}

std::string etagOf(const struct stat& st) {
  const auto mtime = static_cast<uint64_t>(st.st_mtim.tv_sec) * 1000000000ull +
                     static_cast<uint64_t>(st.st_mtim.tv_nsec);
  return fmt::format("\"{:x}-{:x}-{:x}\"", st.st_ino, st.st_size, mtime);
}

// Attribute values and name lists are short: a small buffer first, since
// the kernel allocates (and clears) as much as it is offered; the size asked
// for when it does not fit.
template <typename Read>
std::string readXattr(Read read) {
  char small[512];
  ssize_t size = read(small, sizeof small);
  if (size >= 0) return std::string(small, static_cast<size_t>(size));
  if (errno != ERANGE) return {};
  size = read(nullptr, 0);
  if (size <= 0) return {};
  std::string value(static_cast<size_t>(size), '\0');
  size = read(value.data(), value.size());
  value.resize(size > 0 ? static_cast<size_t>(size) : 0);
  return value;
}

std::string readAttribute(int fd, const char* attribute) {
  return readXattr(
      [&](char* buffer, size_t size) { return ::fgetxattr(fd, attribute, buffer, size); });
}

// What a file's stat says of it as a blob (no type or metadata).
BlobProperties propertiesOf(const struct stat& st, std::string name) {
  BlobProperties properties;
  properties.name = std::move(name);
  properties.size = static_cast<uint64_t>(st.st_size);
  properties.etag = etagOf(st);
  properties.lastModified = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
  return properties;
}

BlobProperties propertiesOf(int fd, const struct stat& st, std::string name, bool withMetadata) {
  BlobProperties properties = propertiesOf(st, std::move(name));
  properties.contentType = readAttribute(fd, kContentTypeAttr);
  if (properties.contentType.empty()) properties.contentType = "application/octet-stream";
  if (!withMetadata) return properties;
  const std::string names =
      readXattr([fd](char* buffer, size_t size) { return ::flistxattr(fd, buffer, size); });
  for (size_t offset = 0; offset < names.size();) {
    const std::string attribute(names.c_str() + offset);
    offset += attribute.size() + 1;
    if (attribute.rfind(kMetaPrefix, 0) == 0) {
      properties.metadata[attribute.substr(std::strlen(kMetaPrefix))] =
          readAttribute(fd, attribute.c_str());
    }
  }
  return properties;
}

// Properties of a path, or nothing when it is missing or not a regular file.
std::optional<BlobProperties> statBlob(std::string_view name, bool withMetadata) {
  Fd fd(::open(pathOf(name).c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
    throwErrno(errno, "read", name);
  }
  struct stat st {};
  ::fstat(fd.fd, &st);
  if (!S_ISREG(st.st_mode)) return std::nullopt;
  return propertiesOf(fd.fd, st, std::string(name), withMetadata);
}

void checkConditions(const Conditions& conditions, const std::optional<BlobProperties>& current,
                     std::string_view name) {
  if (!conditions.ifMatch.empty() && (!current || current->etag != conditions.ifMatch)) {
    throw changedBySomeoneElse(uriFor(name));
  }
  if (conditions.ifNoneMatch == "*" && current) {
    throw BlobError(ErrorKind::kConditionFailed, "the blob already exists", uriFor(name),
                    "someone else created it first; nothing was overwritten");
  }
  if (!conditions.ifNoneMatch.empty() && conditions.ifNoneMatch != "*" && current &&
      current->etag == conditions.ifNoneMatch) {
    throw BlobError(ErrorKind::kConditionFailed, "the blob is unchanged", uriFor(name));
  }
}

// Holds a flock on a directory: the serialization point of conditional
// writes to the files in it, which hold it exclusively between their check
// and their rename. Unconditional writes only need to wait for those, so
// they share it: many files written into one directory at once (blob cp -r)
// do not queue behind each other.
class DirectoryLock {
 public:
  DirectoryLock(const fs::path& directory, bool exclusive)
      : fd_(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
    if (fd_.fd >= 0) ::flock(fd_.fd, exclusive ? LOCK_EX : LOCK_SH);
  }

 private:
  Fd fd_;
};

// Creating and renaming a file take its directory's lock in the kernel,
// whose waiters spin while the holder runs: 64 downloads landing in one
// directory spent a tenth of their CPU there (perf: rwsem_spin_on_owner under
// do_renameat2 and path_openat). Taken one at a time here, waiters sleep.
std::mutex& namespaceChanges() {
  static std::mutex mutex;
  return mutex;
}

std::string randomSuffix() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return fmt::format("{:016x}", generator());
}

void setAttribute(int fd, const std::string& attribute, const std::string& value,
                  std::string_view name) {
  if (::fsetxattr(fd, attribute.c_str(), value.data(), value.size(), 0) != 0) {
    throw BlobError(
        ErrorKind::kOther,
        fmt::format("cannot store metadata in extended attributes: {}", std::strerror(errno)),
        uriFor(name), "use a file system with user xattrs (ext4, xfs, btrfs)");
  }
}

}  // namespace

bool isTempFileName(std::string_view fileName) {
  return fileName.rfind(kTempPrefix, 0) == 0;
}

std::string FileStore::uriOf(std::string_view name) const {
  return uriFor(name);
}

namespace {

// Directories play the part of blobfuse's directory marker blobs.
std::optional<BlobProperties> directoryMarker(std::string_view name) {
  struct stat st {};
  if (::stat(pathOf(name).c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
  BlobProperties properties;
  properties.name = std::string(name);
  properties.etag = etagOf(st);
  properties.lastModified = std::chrono::system_clock::from_time_t(st.st_mtim.tv_sec);
  properties.contentType = "application/octet-stream";
  properties.metadata[kDirectoryMarkerKey] = "true";
  return properties;
}

}  // namespace

std::optional<BlobProperties> FileStore::head(const std::string& name) {
  checkName(name);
  if (auto blob = statBlob(name, true)) return blob;
  return directoryMarker(name);
}

BlobProperties FileStore::get(const std::string& name, const Sink& sink, const ByteRange& range,
                              const Conditions& conditions, const ProgressCallback& progress) {
  checkName(name);
  Fd fd(::open(pathOf(name).c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      throw BlobError(ErrorKind::kNotFound, "no such blob", uriFor(name));
    }
    throwErrno(errno, "read", name);
  }
  struct stat st {};
  ::fstat(fd.fd, &st);
  if (!S_ISREG(st.st_mode)) {
    throw BlobError(ErrorKind::kNotFound, "no such blob (it is a directory)", uriFor(name));
  }
  BlobProperties properties = propertiesOf(fd.fd, st, name, true);
  checkConditions(conditions, properties, name);
  if (range.offset > properties.size) {
    throw BlobError(ErrorKind::kInvalid,
                    fmt::format("range starts at {}, past the end of the blob ({} bytes)",
                                range.offset, properties.size),
                    uriFor(name));
  }
  uint64_t remaining = properties.size - range.offset;
  if (range.length) remaining = std::min(remaining, *range.length);
  std::vector<char> buffer(std::min<uint64_t>(kIoBuffer, std::max<uint64_t>(remaining, 1)));
  uint64_t offset = range.offset;
  uint64_t done = 0;
  while (remaining > 0) {
    const ssize_t got = ::pread(fd.fd, buffer.data(), std::min<uint64_t>(buffer.size(), remaining),
                                static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throwErrno(errno, "read", name);
    if (got == 0) {
      throw BlobError(ErrorKind::kConditionFailed, "the blob was truncated while it was read",
                      uriFor(name), "read it again");
    }
    sink(buffer.data(), static_cast<size_t>(got));
    offset += static_cast<uint64_t>(got);
    remaining -= static_cast<uint64_t>(got);
    done += static_cast<uint64_t>(got);
    if (progress) progress(done);
  }
  return properties;
}

PendingFile::~PendingFile() {
  if (fd >= 0) ::close(fd);
  if (!temp.empty()) ::unlink(temp.c_str());
}

std::unique_ptr<PendingFile> FileStore::beginFile(const std::string& name) {
  checkName(name);
  const fs::path directory = pathOf(name).parent_path();
  std::error_code error;
  fs::create_directories(directory, error);
  if (error) {
    throw BlobError(
        ErrorKind::kInvalid,
        fmt::format("cannot create the directory {}: {}", directory.string(), error.message()),
        uriFor(name), "a parent of the blob may be a file");
  }
  auto pending = std::make_unique<PendingFile>();
  pending->name = name;
  pending->temp = directory / (kTempPrefix + randomSuffix());
  {
    std::lock_guard one(namespaceChanges());
    pending->fd = ::open(pending->temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  }
  if (pending->fd < 0) {
    pending->temp.clear();
    throwErrno(errno, "create a file for", name);
  }
  return pending;
}

void PendingFile::writeAt(uint64_t offset, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t written = ::pwrite(fd, data, size, static_cast<off_t>(offset));
    if (written < 0) {
      if (errno == EINTR) continue;
      throwErrno(errno, "write", name);
    }
    data += written;
    size -= static_cast<size_t>(written);
    offset += static_cast<uint64_t>(written);
  }
}

BlobProperties FileStore::commitFile(PendingFile& pending, const PutOptions& options) {
  const std::string& name = pending.name;
  // The default type is implied when the attribute is absent: one syscall less per file.
  if (options.contentType != "application/octet-stream") {
    setAttribute(pending.fd, kContentTypeAttr, options.contentType, name);
  }
  for (const auto& [key, value] : options.metadata) {
    setAttribute(pending.fd, kMetaPrefix + key, value, name);
  }
  // What the blob will be, from the file itself before it takes the name: a
  // rename keeps inode, size and mtime (its ETag), and no read-back is needed.
  struct stat st {};
  if (::fstat(pending.fd, &st) != 0) throwErrno(errno, "write", name);
  BlobProperties properties = propertiesOf(st, name);
  properties.contentType =
      options.contentType.empty() ? "application/octet-stream" : options.contentType;
  properties.metadata = options.metadata;
  ::close(pending.fd);
  pending.fd = -1;
  {
    const bool conditional = options.conditions.any();
    DirectoryLock lock(pending.temp.parent_path(), conditional);
    if (conditional) checkConditions(options.conditions, statBlob(name, false), name);
    std::lock_guard one(namespaceChanges());
    if (::rename(pending.temp.c_str(), pathOf(name).c_str()) != 0) {
      throwErrno(errno, "replace", name);
    }
  }
  pending.temp.clear();
  return properties;
}

BlobProperties FileStore::put(const std::string& name, Source& source, const PutOptions& options,
                              const ProgressCallback& progress) {
  if (isDirectoryMarker(options.metadata)) {
    // A directory marker is the directory itself here (it must be empty anyway).
    checkName(name);
    std::error_code error;
    fs::create_directories(pathOf(name), error);
    if (error) throwErrno(error.value(), "create the directory", name);
    return *directoryMarker(name);
  }
  auto pending = beginFile(name);
  // No bigger than a source of known size: many small files in flight at
  // once each cost what they hold, not a whole buffer.
  const size_t bufferSize = static_cast<size_t>(
      source.size() ? std::clamp<uint64_t>(*source.size(), 1, kIoBuffer) : kIoBuffer);
  const auto buffer = std::make_unique_for_overwrite<char[]>(bufferSize);
  uint64_t done = 0;
  while (const size_t got = source.read(buffer.get(), bufferSize)) {
    pending->writeAt(done, buffer.get(), got);
    done += got;
    if (progress) progress(done);
  }
  return commitFile(*pending, options);
}

void FileStore::remove(const std::string& name, const Conditions& conditions) {
  checkName(name);
  const fs::path target = pathOf(name);
  DirectoryLock lock(target.parent_path(), true);  // it checks that the blob is there
  if (directoryMarker(name)) {
    if (::rmdir(target.c_str()) != 0) throwErrno(errno, "remove the directory", name);
    return;
  }
  const auto current = statBlob(name, false);
  if (!current) throw BlobError(ErrorKind::kNotFound, "no such blob", uriFor(name));
  checkConditions(conditions, current, name);
  if (::unlink(target.c_str()) != 0) throwErrno(errno, "delete", name);
}

BlobProperties FileStore::copy(const std::string& from, const std::string& to) {
  checkName(from);
  const auto source = head(from);
  if (!source) throw BlobError(ErrorKind::kNotFound, "no such blob", uriFor(from));
  FileSource data(pathOf(from));
  PutOptions options;
  options.metadata = source->metadata;
  options.contentType = source->contentType;
  return put(to, data, options, {});
}

bool FileStore::renameInPlace(const std::string& from, const std::string& to) {
  checkName(from);
  checkName(to);
  const fs::path target = pathOf(to);
  std::error_code error;
  fs::create_directories(target.parent_path(), error);
  if (::rename(pathOf(from).c_str(), target.c_str()) != 0) throwErrno(errno, "rename", from);
  return true;
}

void FileStore::ListedNames::add(std::string_view fullName) {
  fullName.remove_prefix(directory_.size());
  if (!relative_.append(fullName)) {
    throw BlobError(ErrorKind::kOther, "a listing of more than 4 GiB of names", uriFor(directory_));
  }
}

void FileStore::ListedNames::sort() {
  relative_ = relative_.picked(relative_.sortedOrder());
}

size_t FileStore::ListedNames::firstAfter(const std::string& marker) const {
  // Every name starts with the directory: a marker before it precedes them
  // all, one after it follows them all.
  if (marker.compare(0, directory_.size(), directory_) != 0)
    return marker < directory_ ? 0 : size();
  return relative_.upperBound(std::string_view(marker).substr(directory_.size()));
}

std::shared_ptr<const FileStore::ListedNames> FileStore::namesToList(const ListOptions& options) {
  // A continuation reuses its listing's names for a while (Azure's markers
  // continue a listing too); a first page always reads the directory.
  constexpr auto kSnapshotLife = std::chrono::seconds(30);
  const std::string key = options.prefix + '\n' + options.delimiter;
  {
    std::lock_guard lock(snapshotMutex_);
    if (!options.marker.empty() && snapshot_ && snapshotKey_ == key &&
        std::chrono::steady_clock::now() - snapshotTaken_ < kSnapshotLife) {
      return snapshot_;
    }
  }
  // The directory that holds the prefix, and the start of names in it.
  const auto slash = options.prefix.rfind('/');
  const std::string directoryName =
      slash == std::string::npos ? "" : options.prefix.substr(0, slash + 1);
  const fs::path base = fs::path("/") / directoryName;
  auto entries = std::make_shared<ListedNames>(directoryName);
  std::error_code error;
  if (options.delimiter.empty()) {
    fs::recursive_directory_iterator it(base, fs::directory_options::skip_permission_denied, error);
    for (; !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
      if (!it->is_regular_file(error) || isTempFileName(it->path().filename().string())) continue;
      const std::string_view name = std::string_view(it->path().native()).substr(1);
      if (name.starts_with(options.prefix)) entries->add(name);
    }
  } else {
    std::string name;
    for (fs::directory_iterator it(base, error); !error && it != fs::directory_iterator();
         it.increment(error)) {
      const std::string fileName = it->path().filename().string();
      name = directoryName + fileName;
      if (isTempFileName(fileName) || !name.starts_with(options.prefix)) continue;
      if (it->is_directory(error)) {
        entries->add(name + "/");
      } else if (it->is_regular_file(error)) {
        entries->add(name);
      }
    }
  }
  entries->sort();
  std::lock_guard lock(snapshotMutex_);
  snapshotKey_ = key;
  snapshotTaken_ = std::chrono::steady_clock::now();
  snapshot_ = entries;
  return entries;
}

ListPage FileStore::list(const ListOptions& options) {
  if (!options.delimiter.empty() && options.delimiter != "/") {
    throw BlobError(ErrorKind::kInvalid, "file:// stores list with the delimiter \"/\" only",
                    uriFor(options.prefix));
  }
  const auto names = namesToList(options);
  ListPage page;
  const size_t limit = static_cast<size_t>(std::max(1, options.maxResults));
  size_t taken = 0;
  for (size_t at = names->firstAfter(options.marker); at < names->size(); ++at) {
    if (taken == limit) {
      page.nextMarker = page.blobs.empty() && page.prefixes.empty()
                            ? std::string()
                            : std::max(page.blobs.empty() ? "" : page.blobs.back().name,
                                       page.prefixes.empty() ? "" : page.prefixes.back());
      break;
    }
    std::string name = names->name(at);
    if (names->isPrefix(at)) {
      page.prefixes.push_back(std::move(name));
    } else if (auto properties = statBlob(name, options.withMetadata)) {
      page.blobs.push_back(std::move(*properties));
    } else {
      continue;  // removed while listing
    }
    ++taken;
  }
  return page;
}

}  // namespace skiff::blob
