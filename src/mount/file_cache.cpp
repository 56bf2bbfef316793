#include "mount/file_cache.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/error.hpp"
#include "common/files.hpp"

namespace skiff::mount {
namespace {

namespace fs = std::filesystem;

// A blob name as a relative path that stays below the directory it is
// joined to ("." and ".." parts are renamed, empty ones dropped).
fs::path relativePathOf(const std::string& name) {
  fs::path out;
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    std::string part = name.substr(start, end - start);
    if (part == "." || part == "..") part = "_" + part;
    if (!part.empty()) out /= part;
    start = end + 1;
  }
  return out.empty() ? fs::path("_") : out;
}

// Moves `data` to root/relative, or beside it with a suffix (.1, .2, ...)
// when that is taken; returns where it went.
fs::path moveAside(const fs::path& data, const fs::path& root, const fs::path& relative) {
  fs::path target = root / relative;
  std::error_code error;
  fs::create_directories(target.parent_path(), error);
  if (error) {
    // A file is where one of its directories must go: keep it flat instead.
    std::string flat;
    for (const auto& part : relative) flat += (flat.empty() ? "" : "%2F") + part.string();
    target = root / flat;
    fs::create_directories(root);
  }
  const fs::path wanted = target;
  for (int suffix = 1; fs::exists(target) || fs::is_symlink(target); ++suffix) {
    target = wanted.string() + "." + std::to_string(suffix);
  }
  fs::rename(data, target);
  return target;
}

}  // namespace

std::vector<RecoveredFile> FileCache::recover(const fs::path& directory) {
  std::vector<RecoveredFile> recovered;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(directory / "dirty", error)) {
    const fs::path record = entry.path();
    if (record.extension() == ".tmp") {
      fs::remove(record, error);  // a record being written when the mount stopped
      continue;
    }
    // The record is named after the local file; it holds the blob's name.
    const fs::path data = directory / "data" / record.filename();
    std::string name;
    try {
      std::ifstream in(record);
      name = nlohmann::json::parse(in).at("name").get<std::string>();
    } catch (const std::exception&) {
      name = "unnamed-" + record.filename().string();
    }
    if (fs::is_regular_file(data)) {
      try {
        const fs::path target = moveAside(data, directory / "recovered", relativePathOf(name));
        recovered.push_back({name, target});
      } catch (const fs::filesystem_error& e) {
        // Never start (and clean data/) without it.
        throw Error(std::string("cannot keep a file changed through an earlier mount: ") + e.what(),
                    data.string(), "check free space and permissions of the cache directory");
      }
    }
    fs::remove(record, error);
  }
  return recovered;
}

bool FileCache::holdsUnsaved(const fs::path& directory) {
  std::error_code error;
  for (const char* part : {"pending", "dirty", "conflicts", "recovered"}) {
    if (fs::is_directory(directory / part, error) && !fs::is_empty(directory / part, error)) {
      return true;
    }
  }
  return false;
}

void FileCache::dropCleanCopies(const fs::path& directory) {
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(directory / "data", error)) {
    if (!fs::exists(directory / "dirty" / entry.path().filename(), error)) {
      fs::remove_all(entry.path(), error);
    }
  }
}

FileCache::FileCache(fs::path directory, uint64_t maxBytes)
    : directory_(std::move(directory)), maxBytes_(maxBytes) {
  // What a killed mount had changed and not uploaded goes to recovered/;
  // the rest of its cached data may be stale: start clean. Pending uploads
  // live next to it (pending/) and are kept.
  for (const auto& file : recover(directory_)) {
    spdlog::warn(
        "{}: changed through an earlier mount but never closed or synced, not uploaded; "
        "kept at {}",
        file.name, file.path.string());
  }
  std::error_code error;
  fs::remove_all(directory_ / "data", error);
  fs::create_directories(directory_ / "data", error);
  if (!error) fs::create_directories(directory_ / "dirty", error);
  if (error) {
    throw Error("cannot create the cache directory: " + error.message(),
                (directory_ / "data").string(), "choose another --cache-dir");
  }
}

void FileCache::recordChanges(CachedFile& file) {
  ++file.changes;
  if (file.recorded) return;
  std::lock_guard lock(recordsMutex_);
  writeRecord(file);
  file.recorded = true;
}

void FileCache::dropRecord(CachedFile& file) {
  std::lock_guard lock(recordsMutex_);
  removeRecord(file);
}

void FileCache::writeRecord(const CachedFile& file) {
  // Written whole, then renamed: a killed mount leaves the old record or the new.
  const fs::path record = directory_ / "dirty" / file.local.filename();
  try {
    writeFileAtomically(record, nlohmann::json{{"name", file.name}}.dump());
  } catch (const Error& error) {
    spdlog::error("{}: cannot record its changes: {}", file.name, error.what());
  }
}

void FileCache::removeRecord(CachedFile& file) {
  if (!file.recorded) return;
  std::error_code error;
  fs::remove(directory_ / "dirty" / file.local.filename(), error);
  file.recorded = false;
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
      std::lock_guard records(recordsMutex_);
      removeRecord(*slot);
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
  {
    std::lock_guard records(recordsMutex_);
    removeRecord(file);
  }
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
  {
    // Removed on purpose: its changes are not wanted any more.
    std::lock_guard records(recordsMutex_);
    removeRecord(*it->second);
  }
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
  std::lock_guard records(recordsMutex_);
  if (file->recorded) writeRecord(*file);
}

bool FileCache::holdsChanges(const std::string& name) {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(name);
  return it != entries_.end() && it->second->dirty;
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
