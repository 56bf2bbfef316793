#include "mount/file_cache.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "common/error.hpp"

namespace skiff::mount {

FileCache::FileCache(std::filesystem::path directory, uint64_t maxBytes)
    : directory_(std::move(directory)), maxBytes_(maxBytes) {
  // Cached data from an earlier mount may be stale: start clean. Pending
  // uploads live next to it (pending/) and are kept.
  std::error_code error;
  std::filesystem::remove_all(directory_ / "data", error);
  std::filesystem::create_directories(directory_ / "data", error);
  if (error) {
    throw Error("cannot create the cache directory: " + error.message(),
                (directory_ / "data").string(), "choose another --cache-dir");
  }
}

FileCache::~FileCache() {
  for (auto& [name, file] : entries_) {
    if (file->fd >= 0) ::close(file->fd);
  }
}

std::shared_ptr<CachedFile> FileCache::acquire(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto& slot = entries_[name];
  const bool created = !slot;
  if (created) {
    slot = std::make_shared<CachedFile>();
    slot->name = name;
    slot->local = directory_ / "data" / std::to_string(nextId_++);
  }
  if (slot->fd < 0) {
    const int flags = O_RDWR | O_CLOEXEC | (created ? O_CREAT | O_TRUNC : 0);
    slot->fd = ::open(slot->local.c_str(), flags, 0600);
    if (slot->fd < 0 && errno == ENOENT) {
      // Deleted behind the cache's back (someone cleaned the cache
      // directory): start the local copy again; the next fetch downloads it.
      if (slot->dirty) spdlog::warn("the cache file of {} was deleted before its upload", name);
      slot->fd = ::open(slot->local.c_str(), O_RDWR | O_CLOEXEC | O_CREAT | O_TRUNC, 0600);
      slot->present = false;
      slot->dirty = false;
    }
    if (slot->fd < 0) {
      const int error = errno;
      const std::string local = slot->local.string();
      if (created) entries_.erase(name);
      throw Error(std::string("cannot open a cache file: ") + std::strerror(error), local,
                  "check free space and permissions of the cache directory");
    }
  }
  ++slot->openCount;
  slot->lastUse = Clock::now();
  return slot;
}

void FileCache::release(const std::shared_ptr<CachedFile>& file) {
  bool overLimit = false;
  {
    std::lock_guard lock(mutex_);
    file->lastUse = Clock::now();
    if (--file->openCount == 0) {
      if (file->forgotten) {
        discard(*file);
      } else {
        account(*file);
        ::close(file->fd);
        file->fd = -1;
      }
    }
    overLimit = usedBytes_ > maxBytes_;
  }
  if (overLimit) evict();
}

void FileCache::account(CachedFile& file) {
  struct stat st {};
  const uint64_t bytes = ::fstat(file.fd, &st) == 0 ? static_cast<uint64_t>(st.st_blocks) * 512 : 0;
  usedBytes_ = usedBytes_ - std::min(usedBytes_, file.accountedBytes) + bytes;
  file.accountedBytes = bytes;
}

void FileCache::discard(CachedFile& file) {
  if (file.fd >= 0) ::close(file.fd);
  file.fd = -1;
  ::unlink(file.local.c_str());
  usedBytes_ -= std::min(usedBytes_, file.accountedBytes);
  file.accountedBytes = 0;
}

void FileCache::drop(CachedFile& file) {
  if (file.openCount == 0) {
    discard(file);
  } else {
    file.forgotten = true;
  }
}

void FileCache::forget(const std::string& name) {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(name);
  if (it == entries_.end()) return;
  drop(*it->second);
  entries_.erase(it);
}

void FileCache::rename(const std::string& from, const std::string& to) {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(from);
  if (it == entries_.end()) return;
  auto file = it->second;
  entries_.erase(it);
  if (auto old = entries_.find(to); old != entries_.end()) drop(*old->second);
  file->name = to;
  entries_[to] = file;
}

void FileCache::evict() {
  std::lock_guard lock(mutex_);
  const uint64_t target = maxBytes_ / 10 * 9;
  if (usedBytes_ <= target) return;
  std::vector<std::pair<Clock::time_point, std::string>> candidates;
  for (const auto& [name, file] : entries_) {
    if (file->openCount == 0 && !file->dirty) candidates.emplace_back(file->lastUse, name);
  }
  std::sort(candidates.begin(), candidates.end());
  for (const auto& [lastUse, name] : candidates) {
    if (usedBytes_ <= target) break;
    const auto it = entries_.find(name);
    // Another thread may hold the entry's lock mid-fetch: leave it.
    std::unique_lock entryLock(it->second->mutex, std::try_to_lock);
    if (!entryLock.owns_lock()) continue;
    discard(*it->second);
    entryLock.unlock();
    entries_.erase(it);
  }
}

}  // namespace skiff::mount
