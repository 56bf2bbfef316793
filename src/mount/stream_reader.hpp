#pragma once

// Reads a large blob through ranged GETs without caching it on disk. Reads
// that follow each other are detected and the next chunks are fetched ahead
// in parallel; memory stays bounded to (readAhead + 2) chunks.

#include <cstdint>
#include <future>
#include <map>
#include <mutex>
#include <string>

#include "blob/blob_store.hpp"

namespace skiff::mount {

class StreamReader {
 public:
  StreamReader(blob::BlobStore& store, std::string name, uint64_t size, std::string etag,
               uint64_t chunkSize = 8ull << 20, int readAhead = 4);
  ~StreamReader();

  // Copies up to `size` bytes at `offset` into `buffer`; returns the count.
  // Throws blob::BlobError when the store fails (or the blob changed).
  size_t read(char* buffer, size_t size, uint64_t offset);

 private:
  std::shared_future<std::string> chunk(uint64_t index);  // caller holds mutex_
  std::string fetch(uint64_t index);

  blob::BlobStore& store_;
  std::string name_;
  uint64_t size_;
  std::string etag_;
  uint64_t chunkSize_;
  int readAhead_;
  std::mutex mutex_;
  std::map<uint64_t, std::shared_future<std::string>> chunks_;
  uint64_t nextSequential_ = 0;
};

}  // namespace skiff::mount
