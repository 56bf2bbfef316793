#pragma once

// The file system a mount shows, over a BlobStore, independent of FUSE (the
// adapter in fuse_adapter.cpp only translates calls). Paths are absolute
// ("/dir/file"); every operation returns 0 or a negative errno.
//
// Directories are virtual (from '/' in names) plus blobfuse-compatible marker
// blobs (empty, metadata hdi_isfolder=true) for empty ones.

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "blob/blob_store.hpp"
#include "common/parallel.hpp"
#include "mount/file_cache.hpp"
#include "mount/listing.hpp"
#include "mount/options.hpp"

namespace skiff::mount {

class StreamReader;

class BlobFs {
 public:
  BlobFs(std::unique_ptr<blob::BlobStore> store, std::string prefix, MountOptions options);
  ~BlobFs();

  int getattr(const std::string& path, Attributes& out);
  // The directory's listing, shared with the cache (never copied: it may
  // hold millions of names).
  int readdir(const std::string& path, std::shared_ptr<const Listing>& out);
  // `keepCache`: whether the kernel may keep its page cache of the file.
  int open(const std::string& path, int flags, uint64_t& handle, bool& keepCache);
  int create(const std::string& path, int flags, uint64_t& handle);
  int read(uint64_t handle, char* buffer, size_t size, off_t offset);
  int write(uint64_t handle, const char* buffer, size_t size, off_t offset);
  int flush(uint64_t handle);  // uploads local changes (close, fsync)
  int release(uint64_t handle);
  int truncate(const std::string& path, off_t size, const uint64_t* handle);
  int unlink(const std::string& path);
  int mkdir(const std::string& path);
  int rmdir(const std::string& path);
  int rename(const std::string& from, const std::string& to, bool noReplace);

  // Uploads that failed earlier (also from a previous run); called periodically.
  void retryPendingUploads();

  // How many names and listings the metadata caches hold (expired ones included).
  size_t cachedMetadataEntries();

 private:
  struct OpenFile;
  struct CachedAttributes {
    bool exists = false;
    Attributes attributes;
    Clock::time_point expires;
  };
  struct CachedListing {
    std::shared_ptr<const Listing> listing;
    Clock::time_point expires;       // for readdir
    Clock::time_point answersUntil;  // for lookups of its children (also the attr timeout)
  };
  struct Listed {
    std::shared_ptr<const Listing> listing;
    bool complete = true;  // false: stopped at the entry limit
  };
  // What a parent's listing says of a path: unknown, absent or these attributes.
  struct ListingAnswer {
    bool known = false;
    std::optional<Attributes> attributes;
  };

  std::string blobName(const std::string& path) const;
  std::optional<Attributes> lookup(const std::string& path);
  ListingAnswer lookupInParentListing(const std::string& path);
  // Lists a directory's children, page after page, up to `limit` of them.
  Listed listDirectory(const std::string& path, size_t limit);
  // Caches the children's attributes, and the listing when it is complete,
  // unless something changed under the directory since `generation` (then
  // it keeps nothing and returns false).
  bool rememberListing(const std::string& path, const Listed& listed, uint64_t generation);
  void remember(const std::string& path, std::optional<Attributes> attributes);
  std::optional<Attributes> writingAttributes(const std::string& path);
  void invalidate(const std::string& path);  // the path and its parent's listing
  // Makes the cached copy current: kept while fresh, revalidated by ETag, or
  // downloaded (a missing blob is -ENOENT). `fetched` describes a download.
  int fetchIntoCache(CachedFile& file, bool truncate, bool& downloaded);
  int fetchIntoCache(CachedFile& file, bool truncate, bool& downloaded,
                     blob::BlobProperties& fetched);
  int upload(CachedFile& file);
  // What upload sends: the streamed blocks and the rest, committed, or the
  // whole local copy.
  blob::BlobProperties putLocalCopy(CachedFile& file, const blob::PutOptions& options);
  // After a write from `writtenFrom`: stages each whole block of a file
  // written in order (CachedFile::streaming), or stops streaming it.
  void streamWrittenBlocks(CachedFile& file, uint64_t writtenFrom);
  void stopStreaming(CachedFile& file, const std::string& why);
  // An append blob's new tail, with Append Block; refuses any other change.
  int uploadAppend(CachedFile& file);
  // Keeps the local copy in pending/ (with a journal) for retryPendingUploads.
  void recordPending(CachedFile& file);
  // The local copy's changes are in the store, pending/ or conflicts/:
  // clean, unrecorded, an earlier pending state dropped.
  void settled(CachedFile& file);
  // A copy of the local file under conflicts/; returns where.
  std::filesystem::path keepAside(CachedFile& file);
  std::shared_ptr<OpenFile> handleOf(uint64_t handle);
  bool directoryIsEmpty(const std::string& name);
  // Reading a directory's files one after another (cat dir/*, a data
  // loader): fetches the next small files of its listing in the background,
  // so their opens find them cached.
  void prefetchAfter(const std::string& path);
  // The fresh cached listing of `path` into `out`; else false and the
  // generation a new listing starts from.
  bool cachedListing(const std::string& path, std::shared_ptr<const Listing>& out,
                     uint64_t& generation);
  // Walking a tree (find, ls -lR, a loader's recursive glob): after a
  // directory is read, lists its subdirectories and the directories after it
  // in its parent in the background, several at once, so that their readdirs
  // (and the lookups of their entries) find them cached. One level ahead of
  // the reader only: reading the root of a large store does not list it all.
  void prefetchListings(const std::string& path, const Listing& listing);
  // Waits for a background listing of `path` in flight; false when there is none.
  bool awaitListing(const std::string& path);

  std::unique_ptr<blob::BlobStore> store_;
  std::string prefix_;  // ends in '/' or is empty
  MountOptions options_;
  FileCache cache_;

  std::mutex metadataMutex_;
  std::unordered_map<std::string, CachedAttributes> attributes_;
  std::unordered_map<std::string, CachedListing> listings_;
  uint64_t generation_ = 0;  // counts invalidations: listings begun before one are not kept
  // Expired entries are dropped when the caches reach this size, which then
  // doubles what is left: a long-running mount that sees ever new names
  // keeps only the live ones, at an amortized O(1) per insertion.
  size_t sweepAt_ = kMinSweep;
  static constexpr size_t kMinSweep = 4096;
  void sweepExpiredLocked();

  std::mutex handlesMutex_;
  std::unordered_map<uint64_t, std::shared_ptr<OpenFile>> handles_;
  uint64_t nextHandle_ = 1;

  std::mutex prefetchMutex_;
  std::unordered_set<std::string> prefetching_;  // blob names queued or in flight
  std::unique_ptr<BoundedExecutor> prefetcher_;

  std::mutex listingsMutex_;
  std::condition_variable listingDone_;
  std::unordered_set<std::string> listingsInFlight_;  // paths queued or being listed
  std::unique_ptr<BoundedExecutor> listingPrefetcher_;

  std::mutex retryMutex_;
  std::condition_variable retryWake_;
  bool stopping_ = false;
  std::thread retryThread_;
};

// errno for an exception from the blob layer (and anything else: EIO).
int errnoFor(const std::exception_ptr& error);

}  // namespace skiff::mount
