#pragma once

// The local whole-file cache of a mount: one local file per cached blob,
// served without asking the store until the cache timeout passes, evicted
// least-recently-used to stay under a size limit, never while open or dirty.
// A local file is open (fd) only while its entry is acquired, so a cache of
// any number of files holds no descriptors at rest, and its size is kept as
// a running total (each entry re-measured when released).
//
// Nothing is dropped silently: a local file with changes that are neither
// in the store nor kept in pending/ or conflicts/ has a record under
// CACHE_DIR/dirty/ (its blob name). A mount that was killed leaves those
// records; the next one moves each such file to CACHE_DIR/recovered/<blob
// name> before it cleans data/ (recover()). It never uploads them: what the
// writer did not close or fsync must not replace the store's version.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "blob/blob_store.hpp"

namespace skiff::mount {

using Clock = std::chrono::steady_clock;

struct CachedFile {
  std::mutex mutex;  // held while the local copy is fetched, changed or uploaded
  std::string name;  // blob name
  std::filesystem::path local;
  int fd = -1;                      // open read-write while acquired (openCount > 0)
  std::string etag;                 // of the blob version the local copy started from
  bool present = false;             // the local copy is complete
  std::atomic<bool> dirty = false;  // local changes not yet in the store (read unlocked too)
  bool existsInStore = false;       // else the next upload must create it (If-None-Match: *)
  bool unseen = false;  // downloaded since the kernel last opened it: its page cache is stale
  // An append blob stays one: what changed since the store's version must be
  // an addition at its end (>>, O_APPEND), which goes up with Append Block.
  std::string blobType;               // of the store's version
  uint64_t storedSize = 0;            // the store's version's size
  uint64_t firstChange = UINT64_MAX;  // lowest offset written or cut to since then
  // A file written from empty, in order (a model, a log, a copy), goes up
  // in blocks while it is written, so closing it waits only for the last
  // ones: `streaming` has staged [0, streamedUpTo). A write or cut below
  // that stops it, and the whole file goes up on close as any other.
  bool mayStream = false;  // written from empty since the last upload
  std::unique_ptr<blob::BlockUpload> streaming;
  uint64_t streamedUpTo = 0;
  // Counts local changes, so that a pending upload of an earlier state
  // can tell whether the local copy moved on since (pendingChanges).
  uint64_t changes = 0;
  uint64_t pendingChanges = UINT64_MAX;  // `changes` when its pending upload was recorded
  std::atomic<bool> recorded = false;    // has a record under dirty/ (FileCache::recordChanges)
  std::filesystem::path pendingJournal;  // its upload that failed, under pending/ (else empty)
  Clock::time_point validatedAt{};
  Clock::time_point lastUse{};
  // Guarded by the cache's mutex:
  int openCount = 0;
  uint64_t accountedBytes = 0;  // its share of the cache's running total
  bool forgotten = false;       // dropped while open: the last release deletes it
};

// A file a killed mount had changed but not uploaded, moved by recover().
struct RecoveredFile {
  std::string name;  // blob name
  std::filesystem::path path;
};

class FileCache {
 public:
  // Recovers what an earlier mount left (recover()), then starts data/ clean.
  FileCache(std::filesystem::path directory, uint64_t maxBytes);
  ~FileCache();

  // Moves every file recorded under DIRECTORY/dirty/ to DIRECTORY/recovered/
  // <blob name> (a suffix .1, .2, ... when that is taken) and drops its
  // record. For a mount to call before it starts, while it can still tell
  // the terminal; the constructor does it too.
  static std::vector<RecoveredFile> recover(const std::filesystem::path& directory);
  // Whether DIRECTORY holds what is in no store: uploads that failed
  // (pending/), files a killed mount changed and never closed (dirty/),
  // versions that lost a conflict (conflicts/), and recovered/.
  static bool holdsUnsaved(const std::filesystem::path& directory);
  // Deletes the clean copies in DIRECTORY/data/ (the store has them), keeping
  // the files dirty/ records: for a cache that is kept only for what
  // holdsUnsaved names.
  static void dropCleanCopies(const std::filesystem::path& directory);

  // With the entry's mutex held, when it gets changes not in the store:
  // records it under dirty/ once, and counts the change.
  void recordChanges(CachedFile& file);
  // With the entry's mutex held, once its changes are uploaded or kept in
  // pending/ or conflicts/: drops its record.
  void dropRecord(CachedFile& file);

  // The entry for a blob, created when missing, counted as open until release().
  std::shared_ptr<CachedFile> acquire(const std::string& name);
  void release(const std::shared_ptr<CachedFile>& file);
  // Drops a blob's entry and local copy (unless it is open: then only the link).
  void forget(const std::string& name);
  void rename(const std::string& from, const std::string& to);
  // Whether the blob's local copy has changes not in the store yet (then
  // it, not the store, is what every reader must see).
  bool holdsChanges(const std::string& name);
  // Evicts least-recently-used entries until the cache is back under 90% of
  // its limit (so a full cache does not scan on every release).
  void evict();
  const std::filesystem::path& directory() const { return directory_; }

 private:
  std::filesystem::path directory_;
  uint64_t maxBytes_;
  std::mutex mutex_;
  std::mutex recordsMutex_;  // the files under dirty/ and CachedFile::recorded; taken last
  std::unordered_map<std::string, std::shared_ptr<CachedFile>> entries_;
  uint64_t usedBytes_ = 0;  // disk space of the released entries' local files
  std::atomic<uint64_t> nextId_{0};

  // With recordsMutex_ held.
  void writeRecord(const CachedFile& file);
  void removeRecord(CachedFile& file);
  // With mutex_ held: re-measures an entry's local file into the total.
  void account(CachedFile& file);
  // With mutex_ held, the entry unused: deletes its local file.
  void discard(CachedFile& file);
  // With mutex_ held, for an entry leaving the map: discards it now, or at
  // its last release when it is open.
  void drop(CachedFile& file);
};

}  // namespace skiff::mount
