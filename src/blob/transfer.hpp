#pragma once

// Copies between any two stores: one blob, or every blob under a prefix with
// several files in flight. Used by `skiff blob cp`, and by anything else that
// moves trees (release uploads, serve's cache).

#include <functional>
#include <string>
#include <vector>

#include "blob/blob_store.hpp"

namespace skiff::blob {

struct Endpoint {
  BlobStore* store = nullptr;
  std::string path;     // blob name, or a prefix ending in '/' (or empty: the whole store)
  std::string display;  // as the user wrote it, for messages
};

// How a copy writes each blob. Replacing an append or page blob with Put Blob
// would silently turn it into a block blob, so that is refused unless asked.
enum class WriteMode {
  kDefault,  // a block blob; refuses to replace an append or page blob
  kBlock,    // a block blob, replacing whatever is there
  kAppend,   // appended to an append blob (created when missing)
};

struct WriteOptions {
  WriteMode mode = WriteMode::kDefault;
  // Empty: the source's own, else from the name's extension (contentTypeOf).
  std::string contentType;
};

// Writes `source` to `name` as `write` says: refuses (kInvalid, saying which
// choice to make) to replace an append or page blob `existing` describes in
// the default mode. `existing` is the blob there now, or nothing.
BlobProperties writeBlob(BlobStore& store, const std::string& name, Source& source,
                         PutOptions options, const WriteOptions& write,
                         const std::optional<BlobProperties>& existing,
                         const ProgressCallback& progress = {});

struct CopyOptions {
  WriteOptions write;
  bool recursive = false;
  // Files in flight at once (with `recursive`); 0 chooses: copies that wait
  // on no round trip kLocalFilesInFlight at once, small files, which wait on
  // round trips, kSmallFilesInFlight, larger ones (each already sends blocks
  // in parallel) kLargeFilesInFlight.
  int parallelFiles = 0;
  // Called from worker threads with the bytes moved since the last call.
  std::function<void(uint64_t)> onBytes;
  // Called once the total size of a recursive copy is known.
  std::function<void(uint64_t)> onTotal;
};

inline constexpr int kLocalFilesInFlight = 2;  // local files, and empty blobs into them
inline constexpr int kSmallFilesInFlight = 64;
inline constexpr int kLargeFilesInFlight = 8;
// Up to this size a file is small: one request each way.
inline constexpr uint64_t kSmallFileBytes = 4u << 20;

struct CopiedBlob {
  std::string from;
  std::string to;
  uint64_t size = 0;
  std::string etag;
};

// Copies `from` to `to`: a single blob (into `to` itself, or under it when `to`
// ends in '/'), or with `recursive` every blob under `from` to the same
// relative names under `to`. Creates the destination container. Within one
// store it uses the store's server-side copy.
std::vector<CopiedBlob> copyBlobs(const Endpoint& from, const Endpoint& to,
                                  const CopyOptions& options);

// Streams one blob of `from` (described by `source`, from a listing or head:
// its size is trusted, and an empty one is not downloaded at all)
// into `to` through a bounded buffer, so that a download and an upload run at
// the same time; returns the written blob.
BlobProperties streamBlob(BlobStore& from, const BlobProperties& source, BlobStore& to,
                          const std::string& toName, const std::function<void(uint64_t)>& onBytes,
                          const WriteOptions& write = {},
                          const std::optional<BlobProperties>& existing = std::nullopt);

// The blob names under a prefix (the whole name when `path` is a blob).
std::string baseName(const std::string& path);

}  // namespace skiff::blob
