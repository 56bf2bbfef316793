#include "mount/stream_reader.hpp"

#include <cstring>

namespace skiff::mount {

StreamReader::StreamReader(blob::BlobStore& store, std::string name, uint64_t size,
                           std::string etag, uint64_t chunkSize, int readAhead)
    : store_(store),
      name_(std::move(name)),
      size_(size),
      etag_(std::move(etag)),
      chunkSize_(chunkSize),
      readAhead_(readAhead) {}

StreamReader::~StreamReader() {
  // Prefetches still running refer to this reader: wait for them.
  for (auto& [index, data] : chunks_) data.wait();
}

std::string StreamReader::fetch(uint64_t index) {
  const uint64_t offset = index * chunkSize_;
  std::string data;
  data.reserve(std::min(chunkSize_, size_ - offset));
  blob::Conditions pinned;
  pinned.ifMatch = etag_;  // a replaced blob fails instead of mixing versions
  store_.get(
      name_, [&](const char* bytes, size_t count) { data.append(bytes, count); },
      {offset, std::min(chunkSize_, size_ - offset)}, pinned);
  return data;
}

std::shared_future<std::string> StreamReader::chunk(uint64_t index) {
  auto it = chunks_.find(index);
  if (it != chunks_.end()) return it->second;
  auto future = std::async(std::launch::async, [this, index] { return fetch(index); }).share();
  chunks_.emplace(index, future);
  return future;
}

size_t StreamReader::read(char* buffer, size_t size, uint64_t offset) {
  if (offset >= size_) return 0;
  size = static_cast<size_t>(std::min<uint64_t>(size, size_ - offset));
  size_t copied = 0;
  while (copied < size) {
    const uint64_t position = offset + copied;
    const uint64_t index = position / chunkSize_;
    std::shared_future<std::string> wanted;
    {
      std::lock_guard lock(mutex_);
      const bool sequential = position == nextSequential_;
      wanted = chunk(index);
      if (sequential) {
        const uint64_t lastChunk = (size_ - 1) / chunkSize_;
        for (uint64_t ahead = index + 1;
             ahead <= std::min(lastChunk, index + static_cast<uint64_t>(readAhead_)); ++ahead) {
          chunk(ahead);
        }
      }
      // Bounded memory: chunks behind the reader are done with.
      while (!chunks_.empty() && chunks_.begin()->first + 1 < index) {
        chunks_.begin()->second.wait();
        chunks_.erase(chunks_.begin());
      }
      while (chunks_.size() > static_cast<size_t>(readAhead_) + 2) {
        auto last = std::prev(chunks_.end());
        if (last->first <= index) break;
        last->second.wait();
        chunks_.erase(last);
      }
    }
    try {
      wanted.get();
    } catch (...) {
      // Forget the failed chunk so that a later read tries again.
      std::lock_guard lock(mutex_);
      chunks_.erase(index);
      throw;
    }
    const std::string& data = wanted.get();
    const uint64_t within = position - index * chunkSize_;
    if (within >= data.size()) break;
    const size_t count =
        static_cast<size_t>(std::min<uint64_t>(size - copied, data.size() - within));
    std::memcpy(buffer + copied, data.data() + within, count);
    copied += count;
  }
  std::lock_guard lock(mutex_);
  nextSequential_ = offset + copied;
  return copied;
}

}  // namespace skiff::mount
