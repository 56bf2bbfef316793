#include "mount/file_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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
  if (!slot) {
    slot = std::make_shared<CachedFile>();
    slot->name = name;
    slot->local = directory_ / "data" / std::to_string(nextId_++);
    slot->fd = ::open(slot->local.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (slot->fd < 0) {
      entries_.erase(name);
      throw Error("cannot create a cache file", (directory_ / "data").string(),
                  "check free space and permissions of the cache directory");
    }
  }
  ++slot->openCount;
  slot->lastUse = Clock::now();
  return slot;
}

void FileCache::release(const std::shared_ptr<CachedFile>& file) {
  {
    std::lock_guard lock(mutex_);
    --file->openCount;
    file->lastUse = Clock::now();
  }
  evict();
}

void FileCache::forget(const std::string& name) {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(name);
  if (it == entries_.end()) return;
  if (it->second->openCount == 0) {
    ::close(it->second->fd);
    ::unlink(it->second->local.c_str());
  }
  entries_.erase(it);
}

void FileCache::rename(const std::string& from, const std::string& to) {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(from);
  if (it == entries_.end()) return;
  auto file = it->second;
  entries_.erase(it);
  if (auto old = entries_.find(to); old != entries_.end() && old->second->openCount == 0) {
    ::close(old->second->fd);
    ::unlink(old->second->local.c_str());
  }
  file->name = to;
  entries_[to] = file;
}

uint64_t FileCache::usedBytes() {
  std::lock_guard lock(mutex_);
  uint64_t used = 0;
  for (const auto& [name, file] : entries_) {
    struct stat st {};
    if (::fstat(file->fd, &st) == 0) used += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  return used;
}

void FileCache::evict() {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<Clock::time_point, std::string>> candidates;
  uint64_t used = 0;
  for (const auto& [name, file] : entries_) {
    struct stat st {};
    if (::fstat(file->fd, &st) == 0) used += static_cast<uint64_t>(st.st_blocks) * 512;
    if (file->openCount == 0 && !file->dirty) candidates.emplace_back(file->lastUse, name);
  }
  if (used <= maxBytes_) return;
  std::sort(candidates.begin(), candidates.end());
  for (const auto& [lastUse, name] : candidates) {
    if (used <= maxBytes_) break;
    auto& file = entries_.at(name);
    // Another thread may hold the entry's lock mid-fetch: leave it.
    std::unique_lock entryLock(file->mutex, std::try_to_lock);
    if (!entryLock.owns_lock()) continue;
    struct stat st {};
    ::fstat(file->fd, &st);
    used -= std::min<uint64_t>(used, static_cast<uint64_t>(st.st_blocks) * 512);
    ::close(file->fd);
    ::unlink(file->local.c_str());
    entryLock.unlock();
    entries_.erase(name);
  }
}

}  // namespace skiff::mount
