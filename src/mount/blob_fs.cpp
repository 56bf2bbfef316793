#include "mount/blob_fs.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "blob/errors.hpp"
#include "blob/file_store.hpp"
#include "blob/sources.hpp"
#include "mount/stream_reader.hpp"

namespace skiff::mount {
namespace {

using blob::BlobError;
using blob::ErrorKind;

constexpr auto kRetryInterval = std::chrono::seconds(15);
// Directory read-ahead: how many files past the one opened, up to what size,
// on how many threads, with at most how many queued.
constexpr size_t kPrefetchAhead = 16;
constexpr uint64_t kPrefetchMaxBytes = 4ull << 20;
constexpr int kPrefetchWorkers = 8;
constexpr size_t kPrefetchQueue = 32;
// A lookup lists the parent directory when it has at most this many entries
// (one page): one request answers the lookup and its siblings' next ones.
constexpr size_t kLookupListingLimit = 1000;
// A file written from empty goes up in blocks while it is written once it
// holds this much (smaller ones go up whole on close).
constexpr uint64_t kStreamFrom = 8ull << 20;
// Directory listings ahead of a tree walk: how many directories per readdir,
// how many at once, and how many queued or in flight at most (so that
// queueing never blocks a FUSE thread). A listing ahead reads one page of
// at most kListAheadEntries entries; a larger directory is listed when read.
constexpr size_t kListAhead = 64;
constexpr int kListAheadWorkers = 16;
constexpr size_t kListAheadQueue = 256;
constexpr size_t kListAheadEntries = 5000;

// Reads `size` bytes at `offset` (fewer only at the end of the file).
size_t preadFully(int fd, uint64_t offset, char* data, size_t size) {
  size_t done = 0;
  while (done < size) {
    const ssize_t got = ::pread(fd, data + done, size - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    done += static_cast<size_t>(got);
  }
  return done;
}

Clock::duration seconds(double value) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(value));
}

std::string parentOf(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

Attributes fileAttributes(const blob::BlobProperties& properties) {
  Attributes attributes;
  attributes.isDirectory = blob::isDirectoryMarker(properties.metadata);
  attributes.size = attributes.isDirectory ? 0 : properties.size;
  attributes.modified = properties.lastModified;
  return attributes;
}

Attributes directoryAttributes() {
  Attributes attributes;
  attributes.isDirectory = true;
  attributes.modified = std::chrono::system_clock::now();
  return attributes;
}

// Runs one file system operation: exceptions become errno values, and a log line.
template <typename Operation>
int guarded(const char* what, const std::string& path, Operation&& operation) {
  try {
    return operation();
  } catch (...) {
    const int code = errnoFor(std::current_exception());
    try {
      std::rethrow_exception(std::current_exception());
    } catch (const std::exception& e) {
      spdlog::error("{} {}: {}", what, path, e.what());
    }
    return -code;
  }
}

}  // namespace

int errnoFor(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const BlobError& e) {
    switch (e.kind()) {
      case ErrorKind::kNotFound:
        return ENOENT;
      case ErrorKind::kAuth:
        return EACCES;
      case ErrorKind::kInvalid:
        return EINVAL;
      case ErrorKind::kConditionFailed:
      case ErrorKind::kUnavailable:
      case ErrorKind::kOther:
        return EIO;
    }
  } catch (...) {
  }
  return EIO;
}

struct BlobFs::OpenFile {
  std::string path;
  std::string name;
  bool writable = false;
  std::shared_ptr<CachedFile> cached;      // whole-file cache, or
  std::unique_ptr<StreamReader> streamed;  // ranged reads of a large file
};

BlobFs::BlobFs(std::unique_ptr<blob::BlobStore> store, std::string prefix, MountOptions options)
    : store_(std::move(store)),
      prefix_(std::move(prefix)),
      options_(std::move(options)),
      cache_(options_.cacheDir, options_.cacheSizeBytes) {
  if (!prefix_.empty() && prefix_.back() != '/') prefix_ += '/';
  std::filesystem::create_directories(std::filesystem::path(options_.cacheDir) / "pending");
  prefetcher_ = std::make_unique<BoundedExecutor>(kPrefetchWorkers, kPrefetchQueue);
  listingPrefetcher_ = std::make_unique<BoundedExecutor>(kListAheadWorkers, kListAheadQueue);
  retryThread_ = std::thread([this] {
    std::unique_lock lock(retryMutex_);
    while (!stopping_) {
      lock.unlock();
      retryPendingUploads();
      lock.lock();
      retryWake_.wait_for(lock, kRetryInterval, [&] { return stopping_; });
    }
  });
}

BlobFs::~BlobFs() {
  {
    std::lock_guard lock(retryMutex_);
    stopping_ = true;
  }
  retryWake_.notify_all();
  retryThread_.join();
  prefetcher_.reset();  // before the cache and the store its tasks use
  listingPrefetcher_.reset();
}

std::string BlobFs::blobName(const std::string& path) const {
  return prefix_ + (path.size() > 1 ? path.substr(1) : "");
}

void BlobFs::sweepExpiredLocked() {
  if (attributes_.size() + listings_.size() < sweepAt_) return;
  const auto now = Clock::now();
  std::erase_if(attributes_, [&](const auto& entry) { return entry.second.expires <= now; });
  std::erase_if(listings_, [&](const auto& entry) {
    return entry.second.expires <= now && entry.second.answersUntil <= now;
  });
  sweepAt_ = std::max(kMinSweep, 2 * (attributes_.size() + listings_.size()));
}

size_t BlobFs::cachedMetadataEntries() {
  std::lock_guard lock(metadataMutex_);
  return attributes_.size() + listings_.size();
}

void BlobFs::remember(const std::string& path, std::optional<Attributes> attributes) {
  std::lock_guard lock(metadataMutex_);
  sweepExpiredLocked();
  CachedAttributes& entry = attributes_[path];
  entry.exists = attributes.has_value();
  if (attributes) entry.attributes = *attributes;
  entry.expires = Clock::now() + seconds(options_.attrTimeout());
}

void BlobFs::invalidate(const std::string& path) {
  std::lock_guard lock(metadataMutex_);
  ++generation_;
  attributes_.erase(path);
  listings_.erase(parentOf(path));
  listings_.erase(path);
}

std::optional<Attributes> BlobFs::writingAttributes(const std::string& path) {
  std::lock_guard lock(handlesMutex_);
  for (const auto& [handle, open] : handles_) {
    struct stat local {};
    if (open->writable && open->path == path && open->cached &&
        ::fstat(open->cached->fd, &local) == 0) {
      Attributes attributes;
      attributes.size = static_cast<uint64_t>(local.st_size);
      attributes.modified = std::chrono::system_clock::from_time_t(local.st_mtime);
      return attributes;
    }
  }
  return std::nullopt;
}

std::optional<Attributes> BlobFs::lookup(const std::string& path) {
  if (path == "/") return directoryAttributes();
  // A file open for writing is not in the store until it is closed; its
  // local copy is the truth, however short the attribute timeout.
  if (auto writing = writingAttributes(path)) return writing;
  {
    std::lock_guard lock(metadataMutex_);
    const auto it = attributes_.find(path);
    if (it != attributes_.end() && it->second.expires > Clock::now()) {
      if (!it->second.exists) return std::nullopt;
      return it->second.attributes;
    }
  }
  if (options_.listTimeout() > 0) {
    const ListingAnswer answer = lookupInParentListing(path);
    if (answer.known) return answer.attributes;
  }
  const std::string name = blobName(path);
  std::optional<Attributes> found;
  if (const auto properties = store_->head(name)) {
    found = fileAttributes(*properties);
  } else {
    // A virtual directory: some blob's name continues with "path/".
    blob::ListOptions list;
    list.prefix = name + "/";
    list.maxResults = 1;
    const auto page = store_->list(list);
    if (!page.blobs.empty() || !page.prefixes.empty()) found = directoryAttributes();
  }
  remember(path, found);
  return found;
}

int BlobFs::getattr(const std::string& path, Attributes& out) {
  return guarded("getattr", path, [&] {
    const auto attributes = lookup(path);
    if (!attributes) return -ENOENT;
    out = *attributes;
    return 0;
  });
}

BlobFs::ListingAnswer BlobFs::lookupInParentListing(const std::string& path) {
  const std::string parent = parentOf(path);
  const std::string child = path.substr(path.rfind('/') + 1);
  uint64_t generation = 0;
  {
    std::lock_guard lock(metadataMutex_);
    const auto it = listings_.find(parent);
    if (it != listings_.end() && it->second.answersUntil > Clock::now()) {
      return {true, it->second.listing->find(child)};
    }
    generation = generation_;
  }
  const Listed listed = listDirectory(parent, kLookupListingLimit);
  // Changed meanwhile: the listing may be stale, ask the store.
  if (!rememberListing(parent, listed, generation)) return {};
  const auto found = listed.listing->find(child);
  if (found) return {true, found};  // remembered with its siblings
  if (!listed.complete) return {};
  remember(path, std::nullopt);
  return {true, std::nullopt};
}

BlobFs::Listed BlobFs::listDirectory(const std::string& path, size_t limit) {
  const std::string prefix = path == "/" ? prefix_ : blobName(path) + "/";
  Listing::Builder entries;
  blob::ListOptions list;
  list.prefix = prefix;
  list.delimiter = "/";
  list.withMetadata = true;
  list.maxResults = static_cast<int>(std::min<size_t>(limit, 5000));
  const auto add = [&](std::string_view child, const Attributes& attributes) {
    if (child.empty() || entries.add(child, attributes)) return;
    throw BlobError(ErrorKind::kOther,
                    "a directory listing of more than 4 GiB of names: list a subdirectory instead",
                    store_->uriOf(prefix));
  };
  do {
    const blob::ListPage page = store_->list(list);
    for (const auto& directory : page.prefixes) {
      std::string_view child(directory);
      child.remove_prefix(prefix.size());
      child.remove_suffix(1);  // the trailing '/'
      add(child, directoryAttributes());
    }
    for (const auto& properties : page.blobs) {
      add(std::string_view(properties.name).substr(prefix.size()), fileAttributes(properties));
    }
    list.marker = page.nextMarker;
  } while (!list.marker.empty() && entries.size() < limit);
  // Sorted, one entry per name: a blob "x" beside blobs under "x/" (or its
  // marker blob) is the file, as the last one added wins.
  return {entries.finish(), list.marker.empty()};
}

bool BlobFs::rememberListing(const std::string& path, const Listed& listed, uint64_t generation) {
  const auto now = Clock::now();
  const auto attributesExpire = now + seconds(options_.attrTimeout());
  const auto listingExpires = now + seconds(options_.listTimeout());
  std::lock_guard lock(metadataMutex_);
  if (generation != generation_) return false;
  sweepExpiredLocked();
  // The listing also answers the getattr calls that `ls -l` and `find` make
  // next: a complete one that lasts as long as attributes do answers them
  // itself (lookupInParentListing), so its names are not kept twice.
  if (!listed.complete || listingExpires < attributesExpire) {
    const Listing& listing = *listed.listing;
    for (size_t at = 0; at < listing.size(); ++at) {
      std::string childPath = (path == "/" ? "" : path) + "/";
      childPath += listing.name(at);
      attributes_[std::move(childPath)] = {true, listing.attributes(at), attributesExpire};
    }
  }
  if (!listed.complete) return true;
  listings_[path] = {listed.listing, listingExpires, std::min(listingExpires, attributesExpire)};
  return true;
}

bool BlobFs::cachedListing(const std::string& path, std::shared_ptr<const Listing>& out,
                           uint64_t& generation) {
  std::lock_guard lock(metadataMutex_);
  const auto it = listings_.find(path);
  if (it != listings_.end() && it->second.expires > Clock::now()) {
    out = it->second.listing;
    return true;
  }
  generation = generation_;
  return false;
}

int BlobFs::readdir(const std::string& path, std::shared_ptr<const Listing>& out) {
  return guarded("readdir", path, [&] {
    uint64_t generation = 0;
    if (cachedListing(path, out, generation) ||
        (awaitListing(path) && cachedListing(path, out, generation))) {
      prefetchListings(path, *out);
      return 0;
    }
    Listed listed = listDirectory(path, std::numeric_limits<size_t>::max());
    if (listed.listing->empty() && path != "/" && !lookup(path)) return -ENOENT;
    rememberListing(path, listed, generation);
    out = std::move(listed.listing);
    prefetchListings(path, *out);
    return 0;
  });
}

void BlobFs::prefetchListings(const std::string& path, const Listing& listing) {
  if (options_.listTimeout() <= 0) return;  // listings are not kept: nothing to read ahead
  std::vector<std::string> wanted;
  const std::string base = path == "/" ? "" : path;
  for (size_t at = 0; at < listing.size() && wanted.size() < kListAhead; ++at) {
    if (!listing.attributes(at).isDirectory) continue;
    wanted.push_back(base + "/" + std::string(listing.name(at)));
  }
  if (path != "/") {
    // The directories after this one: where a walk goes next.
    const std::string parent = parentOf(path);
    const std::string name = path.substr(path.rfind('/') + 1);
    std::lock_guard lock(metadataMutex_);
    const auto it = listings_.find(parent);
    if (it != listings_.end()) {
      const Listing& siblings = *it->second.listing;
      for (size_t at = siblings.upperBound(name), taken = 0;
           at < siblings.size() && taken < kListAhead; ++at) {
        if (!siblings.attributes(at).isDirectory) continue;
        wanted.push_back((parent == "/" ? "" : parent) + "/" + std::string(siblings.name(at)));
        ++taken;
      }
    }
  }
  for (auto& directory : wanted) {
    {
      std::lock_guard lock(metadataMutex_);
      const auto it = listings_.find(directory);
      if (it != listings_.end() && it->second.expires > Clock::now()) continue;
    }
    {
      std::lock_guard lock(listingsMutex_);
      if (listingsInFlight_.size() >= kListAheadQueue ||
          !listingsInFlight_.insert(directory).second) {
        continue;
      }
    }
    listingPrefetcher_->submit([this, directory = std::move(directory)] {
      try {
        uint64_t generation = 0;
        {
          std::lock_guard lock(metadataMutex_);
          generation = generation_;
        }
        const Listed listed = listDirectory(directory, kListAheadEntries);
        // Empty is also what a directory removed meanwhile lists: readdir decides.
        if (!listed.listing->empty()) rememberListing(directory, listed, generation);
      } catch (const std::exception& e) {
        spdlog::debug("listing ahead of {} failed: {}", directory, e.what());
      }
      {
        std::lock_guard lock(listingsMutex_);
        listingsInFlight_.erase(directory);
      }
      listingDone_.notify_all();
    });
  }
}

bool BlobFs::awaitListing(const std::string& path) {
  std::unique_lock lock(listingsMutex_);
  if (!listingsInFlight_.count(path)) return false;
  listingDone_.wait_for(lock, std::chrono::seconds(30),
                        [&] { return !listingsInFlight_.count(path); });
  return true;
}

int BlobFs::fetchIntoCache(CachedFile& file, bool truncate, bool& downloaded) {
  blob::BlobProperties fetched;
  return fetchIntoCache(file, truncate, downloaded, fetched);
}

int BlobFs::fetchIntoCache(CachedFile& file, bool truncate, bool& downloaded,
                           blob::BlobProperties& fetched) {
  downloaded = false;
  const auto now = Clock::now();
  if (truncate) {
    // Emptied beside a writer whose changes are not uploaded yet (O_TRUNC
    // while another descriptor is open): still cut, and the upload stays
    // conditional on the version those changes started from.
    if (!file.dirty &&
        (!file.present || now - file.validatedAt >= seconds(options_.cacheTimeoutSeconds))) {
      const auto properties = store_->head(file.name);
      file.existsInStore = properties.has_value();
      file.etag = properties ? properties->etag : "";
      file.blobType = properties ? properties->blobType : "";
      file.storedSize = properties ? properties->size : 0;
    }
    if (::ftruncate(file.fd, 0) != 0) return -errno;
    file.present = true;
    cache_.recordChanges(file);
    file.dirty = true;
    file.firstChange = 0;
    file.validatedAt = now;
    stopStreaming(file, "");
    file.mayStream = true;
    return 0;
  }
  if (file.dirty) return 0;  // local changes not yet uploaded are the newest content
  if (file.present && now - file.validatedAt < seconds(options_.cacheTimeoutSeconds)) return 0;
  if (file.present) {
    // Revalidate by ETag: an unchanged blob is not downloaded again.
    const auto properties = store_->head(file.name);
    if (!properties) return -ENOENT;
    if (properties->etag == file.etag) {
      file.validatedAt = now;
      return 0;
    }
  }
  if (::ftruncate(file.fd, 0) != 0) return -errno;
  file.present = false;
  const int fd = file.fd;
  const auto written =
      store_->getUnordered(file.name, [fd](uint64_t offset, const char* data, size_t size) {
        while (size > 0) {
          const ssize_t count = ::pwrite(fd, data, size, static_cast<off_t>(offset));
          if (count < 0 && errno == EINTR) continue;
          if (count < 0) throw BlobError(ErrorKind::kOther, "cannot write the cache file", "");
          data += count;
          size -= static_cast<size_t>(count);
          offset += static_cast<uint64_t>(count);
        }
      });
  file.etag = written.etag;
  file.blobType = written.blobType;
  file.storedSize = written.size;
  file.firstChange = UINT64_MAX;
  file.present = true;
  file.unseen = true;
  file.existsInStore = true;
  file.validatedAt = now;
  downloaded = true;
  fetched = written;
  return 0;
}

void BlobFs::prefetchAfter(const std::string& path) {
  const std::string directory = parentOf(path);
  const std::string base = path.substr(path.rfind('/') + 1);
  const uint64_t largest = std::min(kPrefetchMaxBytes, options_.streamThreshold());
  std::vector<std::string> next;
  {
    std::lock_guard lock(metadataMutex_);
    const auto it = listings_.find(directory);
    if (it == listings_.end() || it->second.expires <= Clock::now()) return;
    const Listing& entries = *it->second.listing;
    size_t at = entries.lowerBound(base);
    if (at == entries.size() || entries.name(at) != base) return;
    for (++at; at < entries.size() && next.size() < kPrefetchAhead; ++at) {
      const Attributes attributes = entries.attributes(at);
      if (attributes.isDirectory || attributes.size > largest) continue;
      next.push_back(
          blobName((directory == "/" ? "" : directory) + "/" + std::string(entries.name(at))));
    }
  }
  for (auto& name : next) {
    {
      std::lock_guard lock(prefetchMutex_);
      // Never more than the queue holds: submit() must not block a FUSE thread.
      if (prefetching_.size() >= kPrefetchQueue || !prefetching_.insert(name).second) continue;
    }
    prefetcher_->submit([this, name = std::move(name)] {
      try {
        const auto file = cache_.acquire(name);
        try {
          std::lock_guard lock(file->mutex);
          bool downloaded = false;
          fetchIntoCache(*file, false, downloaded);
        } catch (const std::exception& e) {
          spdlog::debug("read-ahead of {} failed: {}", name, e.what());
        }
        cache_.release(file);
      } catch (const std::exception& e) {
        spdlog::debug("read-ahead of {} failed: {}", name, e.what());
      }
      std::lock_guard lock(prefetchMutex_);
      prefetching_.erase(name);
    });
  }
}

std::shared_ptr<BlobFs::OpenFile> BlobFs::handleOf(uint64_t handle) {
  std::lock_guard lock(handlesMutex_);
  const auto it = handles_.find(handle);
  return it == handles_.end() ? nullptr : it->second;
}

int BlobFs::open(const std::string& path, int flags, uint64_t& handle, bool& keepCache) {
  return guarded("open", path, [&] {
    const bool writable = (flags & O_ACCMODE) != O_RDONLY;
    if (writable && options_.readOnly) return -EROFS;
    const auto attributes = lookup(path);
    if (!attributes) return -ENOENT;
    if (attributes->isDirectory) return -EISDIR;
    auto open = std::make_shared<OpenFile>();
    open->path = path;
    open->name = blobName(path);
    open->writable = writable;
    keepCache = false;
    // A large file streams from the store, unless this mount holds changes
    // to it that are not uploaded yet: those are what a reader must see.
    if (!writable && attributes->size > options_.streamThreshold() &&
        !cache_.holdsChanges(open->name)) {
      const auto properties = store_->head(open->name);
      if (!properties) return -ENOENT;
      open->streamed =
          std::make_unique<StreamReader>(*store_, open->name, properties->size, properties->etag);
    } else {
      open->cached = cache_.acquire(open->name);
      std::lock_guard lock(open->cached->mutex);
      bool downloaded = false;
      blob::BlobProperties fetched;
      const int result =
          fetchIntoCache(*open->cached, writable && (flags & O_TRUNC), downloaded, fetched);
      if (result != 0) {
        cache_.release(open->cached);
        return result;
      }
      // The kernel may keep its pages only when the content is what it saw before.
      const bool unseen = open->cached->unseen;
      open->cached->unseen = false;
      keepCache = !unseen && !open->cached->dirty;
      if (downloaded) remember(path, fileAttributes(fetched));
      // A fetch here (or by the read-ahead) means a scan may be under way.
      if (unseen && !writable) prefetchAfter(path);
    }
    std::lock_guard lock(handlesMutex_);
    handle = nextHandle_++;
    handles_[handle] = std::move(open);
    return 0;
  });
}

int BlobFs::create(const std::string& path, int /*flags*/, uint64_t& handle) {
  return guarded("create", path, [&] {
    if (options_.readOnly) return -EROFS;
    auto open = std::make_shared<OpenFile>();
    open->path = path;
    open->name = blobName(path);
    open->writable = true;
    open->cached = cache_.acquire(open->name);
    {
      std::lock_guard lock(open->cached->mutex);
      bool downloaded = false;
      const int result = fetchIntoCache(*open->cached, true, downloaded);
      if (result != 0) {
        cache_.release(open->cached);
        return result;
      }
    }
    Attributes attributes;
    attributes.modified = std::chrono::system_clock::now();
    invalidate(path);
    remember(path, attributes);
    std::lock_guard lock(handlesMutex_);
    handle = nextHandle_++;
    handles_[handle] = std::move(open);
    return 0;
  });
}

int BlobFs::read(uint64_t handle, char* buffer, size_t size, off_t offset) {
  const auto open = handleOf(handle);
  if (!open) return -EBADF;
  return guarded("read", open->path, [&] {
    if (open->streamed) {
      return static_cast<int>(open->streamed->read(buffer, size, static_cast<uint64_t>(offset)));
    }
    const ssize_t got = ::pread(open->cached->fd, buffer, size, offset);
    return got < 0 ? -errno : static_cast<int>(got);
  });
}

int BlobFs::write(uint64_t handle, const char* buffer, size_t size, off_t offset) {
  const auto open = handleOf(handle);
  if (!open) return -EBADF;
  if (!open->writable || !open->cached) return -EBADF;
  std::lock_guard lock(open->cached->mutex);
  const ssize_t written = ::pwrite(open->cached->fd, buffer, size, offset);
  if (written < 0) return -errno;
  cache_.recordChanges(*open->cached);
  open->cached->dirty = true;
  open->cached->firstChange = std::min(open->cached->firstChange, static_cast<uint64_t>(offset));
  if (open->cached->mayStream) streamWrittenBlocks(*open->cached, static_cast<uint64_t>(offset));
  {
    std::lock_guard metadataLock(metadataMutex_);
    sweepExpiredLocked();
    auto& entry = attributes_[open->path];
    entry.exists = true;
    entry.attributes.size =
        std::max<uint64_t>(entry.attributes.size, static_cast<uint64_t>(offset) + size);
    entry.attributes.modified = std::chrono::system_clock::now();
    entry.expires = Clock::now() + seconds(options_.attrTimeout());
  }
  return static_cast<int>(written);
}

int BlobFs::upload(CachedFile& file) {
  if (file.existsInStore && !file.blobType.empty() && file.blobType != "BlockBlob") {
    return uploadAppend(file);
  }
  blob::PutOptions options;
  if (file.existsInStore) {
    options.conditions.ifMatch = file.etag;
  } else {
    options.conditions.ifNoneMatch = "*";
  }
  try {
    const auto written = putLocalCopy(file, options);
    file.etag = written.etag;
    file.existsInStore = true;
    file.blobType = written.blobType;
    file.storedSize = written.size;
    settled(file);
    file.validatedAt = Clock::now();
    return 0;
  } catch (const BlobError& e) {
    if (e.kind() == ErrorKind::kConditionFailed) {
      // Someone else changed the blob: keep our version aside, never overwrite theirs.
      stopStreaming(file, "");
      const auto kept = keepAside(file);
      spdlog::error("{}: not uploaded: {}; your version is kept at {}", store_->uriOf(file.name),
                    e.what(), kept.string());
      settled(file);
      file.present = false;  // re-read the store's version next time
      return -EIO;
    }
    spdlog::error("{}: upload failed, will retry: {}", store_->uriOf(file.name), e.what());
    stopStreaming(file, "");
    recordPending(file);
    return -errnoFor(std::current_exception());
  }
}

void BlobFs::settled(CachedFile& file) {
  file.dirty = false;
  file.firstChange = UINT64_MAX;
  cache_.dropRecord(file);
  // An earlier state that failed to go up is superseded.
  if (!file.pendingJournal.empty()) {
    std::error_code error;
    std::filesystem::remove(file.pendingJournal.string() + ".data", error);
    std::filesystem::remove(file.pendingJournal, error);
    file.pendingJournal.clear();
  }
}

std::filesystem::path BlobFs::keepAside(CachedFile& file) {
  const auto conflicts = std::filesystem::path(options_.cacheDir) / "conflicts";
  std::filesystem::create_directories(conflicts);
  const auto kept =
      conflicts / fmt::format("{}.{}", file.local.filename().string(),
                              std::chrono::system_clock::now().time_since_epoch().count());
  std::filesystem::copy_file(file.local, kept);
  return kept;
}

blob::BlobProperties BlobFs::putLocalCopy(CachedFile& file, const blob::PutOptions& options) {
  if (file.streaming) {
    try {
      struct stat st {};
      if (::fstat(file.fd, &st) != 0) throw Error("cannot read the cached file");
      const auto size = static_cast<uint64_t>(st.st_size);
      // The rest: what was written since the last whole block.
      while (file.streamedUpTo < size) {
        const auto length =
            static_cast<size_t>(std::min(file.streaming->blockSize(), size - file.streamedUpTo));
        std::string block(length, '\0');
        if (preadFully(file.fd, file.streamedUpTo, block.data(), length) != length) {
          throw Error("the cached file became shorter");
        }
        file.streaming->stage(std::move(block));
        file.streamedUpTo += length;
      }
      auto written = file.streaming->commit(options);
      stopStreaming(file, "");
      return written;
    } catch (const BlobError& e) {
      if (e.kind() == ErrorKind::kConditionFailed) throw;
      stopStreaming(file, e.what());
    } catch (const std::exception& e) {
      stopStreaming(file, e.what());
    }
  }
  stopStreaming(file, "");
  blob::FileSource source(file.local);
  return store_->put(file.name, source, options);
}

void BlobFs::streamWrittenBlocks(CachedFile& file, uint64_t writtenFrom) {
  if (writtenFrom < file.streamedUpTo) return stopStreaming(file, "rewritten below what was sent");
  // An append blob stays one: it goes up with Append Block on close.
  if (file.existsInStore && !file.blobType.empty() && file.blobType != "BlockBlob") {
    return stopStreaming(file, "");
  }
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) return stopStreaming(file, "cannot stat the cached file");
  const auto size = static_cast<uint64_t>(st.st_size);
  if (!file.streaming) {
    // Only once a whole block is written: small files go up whole on close.
    if (size < kStreamFrom) return;
    file.streaming = store_->beginBlockUpload(file.name);
    if (!file.streaming) return stopStreaming(file, "");  // a store that takes whole files
  }
  const uint64_t blockSize = file.streaming->blockSize();
  try {
    while (size - file.streamedUpTo >= blockSize) {
      std::string block(static_cast<size_t>(blockSize), '\0');
      if (preadFully(file.fd, file.streamedUpTo, block.data(), block.size()) != block.size()) {
        return stopStreaming(file, "the cached file became shorter");
      }
      file.streaming->stage(std::move(block));  // waits while the window is full
      file.streamedUpTo += blockSize;
      spdlog::debug("{}: sent up to {} while writing", store_->uriOf(file.name), file.streamedUpTo);
    }
  } catch (const std::exception& e) {
    stopStreaming(file, e.what());
  }
}

void BlobFs::stopStreaming(CachedFile& file, const std::string& why) {
  if (file.streaming && !why.empty()) {
    spdlog::info("{}: sending blocks while writing stopped ({}); the whole file goes up on close",
                 store_->uriOf(file.name), why);
  }
  file.streaming.reset();  // waits for blocks in flight; uncommitted, the store drops them
  file.streamedUpTo = 0;
  file.mayStream = false;
}

namespace {

// The bytes of a local file from `offset` to its end.
class TailSource : public blob::Source {
 public:
  TailSource(int fd, uint64_t offset, uint64_t end) : fd_(fd), offset_(offset), end_(end) {}
  size_t read(char* buffer, size_t capacity) override {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(capacity, end_ - offset_));
    if (want == 0) return 0;
    const ssize_t got = ::pread(fd_, buffer, want, static_cast<off_t>(offset_));
    if (got < 0) throw Error("cannot read the cached file", "", "check the cache directory");
    offset_ += static_cast<uint64_t>(got);
    return static_cast<size_t>(got);
  }
  std::optional<uint64_t> size() const override { return end_ - offset_; }

 private:
  int fd_;
  uint64_t offset_;
  uint64_t end_;
};

}  // namespace

int BlobFs::uploadAppend(CachedFile& file) {
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) return -errno;
  const auto size = static_cast<uint64_t>(st.st_size);
  if (file.blobType != "AppendBlob" || file.firstChange < file.storedSize ||
      size < file.storedSize) {
    // Put Blob would silently turn it into a block blob: refuse, keep the store's version.
    const auto kept = keepAside(file);
    spdlog::error(
        "{}: not written: it is {} blob, which the mount only appends to (>>, "
        "O_APPEND); `skiff blob cp --blob-type block` replaces it on purpose; your version is "
        "kept at {}",
        store_->uriOf(file.name), file.blobType == "AppendBlob" ? "an append" : "a page",
        kept.string());
    settled(file);
    file.present = false;  // re-read the store's version next time
    return -EPERM;
  }
  try {
    TailSource tail(file.fd, file.storedSize, size);
    blob::PutOptions options;
    options.conditions.ifMatch = file.etag;
    const auto written = store_->append(file.name, tail, options);
    file.etag = written.etag;
    file.storedSize = written.size;
    settled(file);
    file.validatedAt = Clock::now();
    return 0;
  } catch (const BlobError& e) {
    if (e.kind() == ErrorKind::kConditionFailed) {
      const auto kept = keepAside(file);
      spdlog::error("{}: append failed: {}; your version is kept at {}", store_->uriOf(file.name),
                    e.what(), kept.string());
      settled(file);
      file.present = false;
    } else {
      spdlog::error("{}: append failed: {}", store_->uriOf(file.name), e.what());
    }
    return -errnoFor(std::current_exception());
  }
}

namespace {

struct PendingJournal {
  std::string name;
  std::string etag;
  bool existsInStore = false;
};

std::optional<PendingJournal> readJournal(const std::filesystem::path& path) {
  try {
    std::ifstream in(path);
    const auto journal = nlohmann::json::parse(in);
    return PendingJournal{journal.at("name"), journal.at("etag"),
                          journal.at("existsInStore").get<bool>()};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The journals under pending/ (not their data), oldest first.
std::vector<std::filesystem::path> pendingJournals(const std::filesystem::path& pending) {
  std::vector<std::filesystem::path> journals;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(pending, error)) {
    const auto extension = entry.path().extension();
    if (extension != ".data" && extension != ".tmp") journals.push_back(entry.path());
  }
  std::sort(journals.begin(), journals.end());
  return journals;
}

}  // namespace

void BlobFs::recordPending(CachedFile& file) {
  // A journal entry survives a killed process: the next mount retries it.
  // Named by the time, so that the journals of every run sort oldest
  // first, and no run's journal takes the name of an earlier one's.
  const auto pending = std::filesystem::path(options_.cacheDir) / "pending";
  if (file.pendingJournal.empty()) {
    file.pendingJournal =
        pending / fmt::format("{:020}-{}-{}",
                              std::chrono::system_clock::now().time_since_epoch().count(),
                              ::getpid(), file.local.filename().string());
  }
  // One pending upload per blob: an older one (an earlier mount's) is
  // superseded by this later close, and kept aside, not lost.
  for (const auto& journal : pendingJournals(pending)) {
    if (journal == file.pendingJournal) continue;
    const auto older = readJournal(journal);
    if (!older || older->name != file.name) continue;
    const auto conflicts = std::filesystem::path(options_.cacheDir) / "conflicts";
    std::filesystem::create_directories(conflicts);
    const auto kept = conflicts / journal.filename();
    std::error_code error;
    std::filesystem::rename(journal.string() + ".data", kept, error);
    std::filesystem::remove(journal, error);
    spdlog::warn("{}: an older pending upload is superseded by a later one; kept at {}",
                 store_->uriOf(file.name), kept.string());
  }
  // The data, then the journal, each written whole and renamed into place:
  // a process killed meanwhile leaves the old pair or a journal with new data.
  const auto data = file.pendingJournal.string() + ".data";
  std::filesystem::copy_file(file.local, data + ".tmp",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::rename(data + ".tmp", data);
  const auto journalTemporary = file.pendingJournal.string() + ".tmp";
  {
    std::ofstream out(journalTemporary, std::ios::trunc);
    out << nlohmann::json{
        {"name", file.name},
        {"etag", file.etag},
        {"existsInStore", file.existsInStore},
        {"data",
         data}}.dump();
  }
  std::filesystem::rename(journalTemporary, file.pendingJournal);
  file.pendingChanges = file.changes;
  cache_.dropRecord(file);  // pending/ holds it now
}

void BlobFs::retryPendingUploads() {
  const auto pending = std::filesystem::path(options_.cacheDir) / "pending";
  for (const auto& path : pendingJournals(pending)) {
    const auto journal = readJournal(path);
    if (!journal) {
      spdlog::error("pending upload {}: unreadable journal; its data is kept at {}.data",
                    path.string(), path.string());
      continue;
    }
    std::shared_ptr<CachedFile> cached;
    try {
      cached = cache_.acquire(journal->name);
    } catch (const std::exception& e) {
      spdlog::error("pending upload {}: {}", path.string(), e.what());
      continue;
    }
    try {
      // Under the entry's lock: a close of the file meanwhile either
      // uploaded a later state (and removed this journal) or waits.
      std::lock_guard lock(cached->mutex);
      const bool ours = cached->pendingJournal == path;
      if (std::filesystem::exists(path)) {
        blob::PutOptions options;
        if (journal->existsInStore) {
          options.conditions.ifMatch = journal->etag;
        } else {
          options.conditions.ifNoneMatch = "*";
        }
        const std::string data = path.string() + ".data";
        blob::FileSource source(data);
        try {
          const auto written = store_->put(journal->name, source, options);
          spdlog::info("{}: pending upload done", store_->uriOf(journal->name));
          std::filesystem::remove(data);
          std::filesystem::remove(path);
          if (ours) {
            cached->pendingJournal.clear();
            cached->etag = written.etag;
            cached->existsInStore = true;
            cached->blobType = written.blobType;
            cached->storedSize = written.size;
            // Changed again since that close: still dirty, and its next
            // upload is conditional on the version just written.
            if (cached->changes == cached->pendingChanges) settled(*cached);
          } else if (!cached->dirty) {
            cached->present = false;  // an earlier mount's: re-read the store's version
          }
        } catch (const BlobError& e) {
          if (e.kind() != ErrorKind::kConditionFailed) throw;
          const auto conflicts = std::filesystem::path(options_.cacheDir) / "conflicts";
          std::filesystem::create_directories(conflicts);
          const auto kept = conflicts / path.filename();
          std::filesystem::rename(data, kept);
          std::filesystem::remove(path);
          spdlog::error("{}: pending upload conflicts with a newer version: {}; kept at {}",
                        store_->uriOf(journal->name), e.what(), kept.string());
          if (ours) {
            cached->pendingJournal.clear();
            if (cached->changes == cached->pendingChanges) {
              settled(*cached);
              cached->present = false;
            }
          }
        }
      }
    } catch (const BlobError& e) {
      spdlog::warn("pending upload {} still fails: {}", path.string(), e.what());
    } catch (const std::exception& e) {
      spdlog::error("pending upload {}: {}", path.string(), e.what());
    }
    cache_.release(cached);
    invalidate("/" + journal->name.substr(std::min(prefix_.size(), journal->name.size())));
  }
}

int BlobFs::flush(uint64_t handle) {
  const auto open = handleOf(handle);
  if (!open) return -EBADF;
  if (!open->cached) return 0;
  return guarded("flush", open->path, [&] {
    std::lock_guard lock(open->cached->mutex);
    if (!open->cached->dirty) return 0;
    const int result = upload(*open->cached);
    invalidate(open->path);
    return result;
  });
}

int BlobFs::release(uint64_t handle) {
  std::shared_ptr<OpenFile> open;
  {
    std::lock_guard lock(handlesMutex_);
    const auto it = handles_.find(handle);
    if (it == handles_.end()) return -EBADF;
    open = std::move(it->second);
    handles_.erase(it);
  }
  if (open->cached) cache_.release(open->cached);
  return 0;
}

int BlobFs::truncate(const std::string& path, off_t size, const uint64_t* handle) {
  return guarded("truncate", path, [&] {
    if (options_.readOnly) return -EROFS;
    if (handle) {
      const auto open = handleOf(*handle);
      if (!open || !open->cached) return -EBADF;
      std::lock_guard lock(open->cached->mutex);
      if (::ftruncate(open->cached->fd, size) != 0) return -errno;
      cache_.recordChanges(*open->cached);
      if (static_cast<uint64_t>(size) < open->cached->streamedUpTo) {
        stopStreaming(*open->cached, "cut below what was sent");
      }
      open->cached->dirty = true;
      open->cached->firstChange = std::min(open->cached->firstChange, static_cast<uint64_t>(size));
      invalidate(path);
      return 0;
    }
    // truncate(2) on a path: fetch, cut, upload at once.
    uint64_t temporary = 0;
    bool keepCache = false;
    int result = open(path, O_RDWR, temporary, keepCache);
    if (result != 0) return result;
    result = truncate(path, size, &temporary);
    if (result == 0) result = flush(temporary);
    release(temporary);
    return result;
  });
}

int BlobFs::unlink(const std::string& path) {
  return guarded("unlink", path, [&] {
    if (options_.readOnly) return -EROFS;
    const std::string name = blobName(path);
    store_->remove(name);
    cache_.forget(name);
    invalidate(path);
    remember(path, std::nullopt);
    return 0;
  });
}

bool BlobFs::directoryIsEmpty(const std::string& name) {
  blob::ListOptions list;
  list.prefix = name + "/";
  list.maxResults = 1;
  const auto page = store_->list(list);
  return page.blobs.empty() && page.prefixes.empty();
}

int BlobFs::mkdir(const std::string& path) {
  return guarded("mkdir", path, [&] {
    if (options_.readOnly) return -EROFS;
    if (lookup(path)) return -EEXIST;
    blob::PutOptions marker;
    marker.metadata[blob::kDirectoryMarkerKey] = "true";
    blob::MemorySource empty("");
    store_->put(blobName(path), empty, marker);
    invalidate(path);
    remember(path, directoryAttributes());
    return 0;
  });
}

int BlobFs::rmdir(const std::string& path) {
  return guarded("rmdir", path, [&] {
    if (options_.readOnly) return -EROFS;
    const auto attributes = lookup(path);
    if (!attributes) return -ENOENT;
    if (!attributes->isDirectory) return -ENOTDIR;
    const std::string name = blobName(path);
    if (!directoryIsEmpty(name)) return -ENOTEMPTY;
    try {
      store_->remove(name);  // the marker, when there is one
    } catch (const BlobError& e) {
      if (e.kind() != ErrorKind::kNotFound) throw;
    }
    invalidate(path);
    remember(path, std::nullopt);
    return 0;
  });
}

int BlobFs::rename(const std::string& from, const std::string& to, bool noReplace) {
  return guarded("rename", from, [&] {
    if (options_.readOnly) return -EROFS;
    const auto source = lookup(from);
    if (!source) return -ENOENT;
    const auto target = lookup(to);
    if (target && noReplace) return -EEXIST;
    const std::string fromName = blobName(from);
    const std::string toName = blobName(to);
    if (source->isDirectory && target && !target->isDirectory) return -ENOTDIR;
    if (!source->isDirectory && target && target->isDirectory) return -EISDIR;
    if (source->isDirectory && target && !directoryIsEmpty(toName)) return -ENOTEMPTY;
    if (store_->renameInPlace(fromName, toName)) {
      cache_.rename(fromName, toName);
    } else if (!source->isDirectory) {
      store_->copy(fromName, toName);
      store_->remove(fromName);
      cache_.rename(fromName, toName);
    } else {
      // Blob storage has no directories to rename: move every blob under it.
      for (const auto& properties : blob::listAll(*store_, fromName + "/")) {
        const std::string moved = toName + properties.name.substr(fromName.size());
        store_->copy(properties.name, moved);
        store_->remove(properties.name);
        cache_.rename(properties.name, moved);
      }
      if (const auto marker = store_->head(fromName)) {
        blob::PutOptions options;
        options.metadata = marker->metadata;
        blob::MemorySource empty("");
        store_->put(toName, empty, options);
        store_->remove(fromName);
      }
    }
    {
      std::lock_guard lock(metadataMutex_);
      // Everything cached below the old path is stale now.
      const auto below = [&](const std::string& path) {
        return path == from || path.rfind(from + "/", 0) == 0;
      };
      std::erase_if(attributes_, [&](const auto& item) { return below(item.first); });
      std::erase_if(listings_, [&](const auto& item) { return below(item.first); });
    }
    invalidate(from);
    invalidate(to);
    return 0;
  });
}

}  // namespace skiff::mount
