#pragma once

// One interface over blob storage: Azure Blob (az://) and a local directory
// (file://, the embedded default). Everything above this layer (mount, serve,
// release, `skiff blob`) reads and writes through it.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace skiff::blob {

using Metadata = std::map<std::string, std::string>;

// An empty blob with this metadata set to "true" marks a directory, as
// blobfuse writes it, so that empty directories exist in a flat namespace.
inline constexpr const char* kDirectoryMarkerKey = "hdi_isfolder";
bool isDirectoryMarker(const Metadata& metadata);

struct BlobProperties {
  std::string name;  // full name inside the container
  uint64_t size = 0;
  std::string etag;  // opaque, quoted as the service gives it
  std::chrono::system_clock::time_point lastModified;
  std::string contentType;
  // What clients compare: the service's BlockBlob / AppendBlob / PageBlob, and
  // the base64 MD5 of the whole blob. Empty where the store has none.
  std::string blobType;
  std::string contentMd5;
  Metadata metadata;
};

struct ListOptions {
  std::string prefix;
  std::string delimiter;  // "/" for one directory level; empty for everything below prefix
  std::string marker;     // continuation from a previous page
  int maxResults = 5000;
  bool withMetadata = false;
};

struct ListPage {
  std::vector<BlobProperties> blobs;
  std::vector<std::string> prefixes;  // "directories" when a delimiter is given, ending in it
  std::string nextMarker;             // empty on the last page
};

// Preconditions on the blob's current state (HTTP If-Match / If-None-Match).
struct Conditions {
  std::string ifMatch;      // the ETag the blob must still have
  std::string ifNoneMatch;  // "*": only when the blob does not exist yet
  bool any() const { return !ifMatch.empty() || !ifNoneMatch.empty(); }
};

struct ByteRange {
  uint64_t offset = 0;
  std::optional<uint64_t> length;  // nothing: to the end
};

struct PutOptions {
  Metadata metadata;
  std::string contentType = "application/octet-stream";
  Conditions conditions;
};

// Pull-style data source for uploads: fills `buffer` and returns the bytes
// written, 0 at the end. Sources of a known size allow parallel block uploads.
class Source {
 public:
  virtual ~Source() = default;
  virtual size_t read(char* buffer, size_t capacity) = 0;
  virtual std::optional<uint64_t> size() const = 0;
  // Random access (files): reads at `offset` without moving a cursor; thread-safe.
  virtual bool supportsReadAt() const { return false; }
  virtual size_t readAt(uint64_t /*offset*/, char* /*buffer*/, size_t /*capacity*/) { return 0; }
};

// Push-style sink for downloads; receives the data in order.
using Sink = std::function<void(const char* data, size_t size)>;

// Receives parts of a blob at their offsets, possibly from several threads at once.
using PositionalSink = std::function<void(uint64_t offset, const char* data, size_t size)>;

// Progress of long transfers: bytes done so far (monotonic).
using ProgressCallback = std::function<void(uint64_t bytesDone)>;

// A block blob written in parts as they come, for a writer that does not
// know its size up front (a file written sequentially through a mount): each
// staged block goes up at once, in parallel with the writer and the next
// blocks; commit makes them the blob. Nothing changes in the store until
// commit; an abandoned upload leaves uncommitted blocks, which the service
// discards.
class BlockUpload {
 public:
  virtual ~BlockUpload() = default;
  virtual uint64_t blockSize() const = 0;
  // Sends `data` (at most blockSize() bytes) as the next block, in the
  // background; waits while the blocks in flight fill the upload's window.
  // Throws when an earlier block failed.
  virtual void stage(std::string data) = 0;
  // Waits for every block, then commits them in order under `options`'
  // conditions and settings; returns the new blob's properties.
  virtual BlobProperties commit(const PutOptions& options) = 0;
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;

  // The URI of a blob of this store, for messages (no credentials in it).
  virtual std::string uriOf(std::string_view name) const = 0;

  virtual ListPage list(const ListOptions& options) = 0;
  // Properties of one blob; nothing when it does not exist.
  virtual std::optional<BlobProperties> head(const std::string& name) = 0;
  // Streams the blob (or a range of it) into `sink`; returns its properties.
  virtual BlobProperties get(const std::string& name, const Sink& sink, const ByteRange& range = {},
                             const Conditions& conditions = {},
                             const ProgressCallback& progress = {}) = 0;
  // Reads a whole blob whose parts may arrive out of order and in parallel,
  // for writers with random access (a local file). The default reads in order.
  virtual BlobProperties getUnordered(const std::string& name, const PositionalSink& sink,
                                      const ProgressCallback& progress = {});
  // Writes the whole blob from `source`, replacing it atomically; returns the new properties.
  virtual BlobProperties put(const std::string& name, Source& source,
                             const PutOptions& options = {},
                             const ProgressCallback& progress = {}) = 0;
  // Adds `source` to the end of an append blob, creating it when missing (as
  // `az storage blob upload --type append` does). Stores without append blobs refuse.
  virtual BlobProperties append(const std::string& name, Source& source,
                                const PutOptions& options = {});
  virtual void remove(const std::string& name, const Conditions& conditions = {}) = 0;
  // Copies a blob within this store.
  virtual BlobProperties copy(const std::string& from, const std::string& to) = 0;
  // Renames a blob, or a directory with everything in it, in one step when the
  // store can (a file system); returns false when it cannot (blob services).
  virtual bool renameInPlace(const std::string& /*from*/, const std::string& /*to*/) {
    return false;
  }
  // Creates the container (az) or root directory (file) when it is missing.
  virtual void ensureContainer() = 0;
  // A block upload of `name`, where the store takes blobs in blocks (Azure);
  // nullptr where writing the whole blob at once is as good (a file system).
  virtual std::unique_ptr<BlockUpload> beginBlockUpload(const std::string& /*name*/,
                                                        const ProgressCallback& = {}) {
    return nullptr;
  }
};

// Lists every blob under `prefix`, following pages.
std::vector<BlobProperties> listAll(BlobStore& store, const std::string& prefix,
                                    bool withMetadata = false);

}  // namespace skiff::blob
