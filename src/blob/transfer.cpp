#include "blob/transfer.hpp"

#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "blob/content_type.hpp"
#include "blob/errors.hpp"
#include "blob/file_store.hpp"
#include "blob/sources.hpp"
#include "common/parallel.hpp"

namespace skiff::blob {
namespace {

constexpr size_t kBridgeCapacity = 64u << 20;  // bytes buffered between download and upload

// A Source fed by another thread's Sink: the download pushes, the upload pulls.
class Bridge : public Source {
 public:
  explicit Bridge(uint64_t size) : size_(size) {}

  void push(const char* data, size_t bytes) {
    std::unique_lock lock(mutex_);
    changed_.wait(
        lock, [&] { return aborted_ || buffered_ + bytes <= kBridgeCapacity || buffered_ == 0; });
    if (aborted_) throw BlobError(ErrorKind::kOther, "the upload side stopped", "");
    chunks_.emplace_back(data, bytes);
    buffered_ += bytes;
    changed_.notify_all();
  }

  void close(std::exception_ptr error) {
    std::lock_guard lock(mutex_);
    closed_ = true;
    error_ = error;
    changed_.notify_all();
  }

  void abort() {
    std::lock_guard lock(mutex_);
    aborted_ = true;
    changed_.notify_all();
  }

  size_t read(char* buffer, size_t capacity) override {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return !chunks_.empty() || closed_; });
    if (chunks_.empty()) {
      if (error_) std::rethrow_exception(error_);
      return 0;
    }
    std::string& front = chunks_.front();
    const size_t bytes = std::min(capacity, front.size() - frontOffset_);
    std::memcpy(buffer, front.data() + frontOffset_, bytes);
    frontOffset_ += bytes;
    buffered_ -= bytes;
    if (frontOffset_ == front.size()) {
      chunks_.pop_front();
      frontOffset_ = 0;
    }
    changed_.notify_all();
    return bytes;
  }

  std::optional<uint64_t> size() const override { return size_; }

 private:
  uint64_t size_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> chunks_;
  size_t frontOffset_ = 0;
  size_t buffered_ = 0;
  bool closed_ = false;
  bool aborted_ = false;
  std::exception_ptr error_;
};

bool endsWithSlash(const std::string& path) {
  return !path.empty() && path.back() == '/';
}

std::string asPrefix(const std::string& path) {
  return path.empty() || endsWithSlash(path) ? path : path + "/";
}

}  // namespace

BlobProperties writeBlob(BlobStore& store, const std::string& name, Source& source,
                         PutOptions options, const WriteOptions& write,
                         const std::optional<BlobProperties>& existing,
                         const ProgressCallback& progress) {
  if (!write.contentType.empty()) options.contentType = write.contentType;
  if (write.mode == WriteMode::kAppend) return store.append(name, source, options);
  if (write.mode == WriteMode::kDefault && existing && !existing->blobType.empty() &&
      existing->blobType != "BlockBlob") {
    throw BlobError(
        ErrorKind::kInvalid,
        "the destination is " +
            std::string(existing->blobType == "AppendBlob" ? "an append blob" : "a page blob") +
            "; copying onto it would turn it into a block blob",
        store.uriOf(name),
        "pass --blob-type append to append to it, or --blob-type block to replace it "
        "with a block blob");
  }
  return store.put(name, source, options, progress);
}

std::string baseName(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

BlobProperties streamBlob(BlobStore& from, const BlobProperties& source, BlobStore& to,
                          const std::string& toName, const std::function<void(uint64_t)>& onBytes,
                          const WriteOptions& write,
                          const std::optional<BlobProperties>& existing) {
  const std::string& fromName = source.name;
  PutOptions options;
  options.metadata = source.metadata;
  options.contentType = source.contentType;
  // A file without a recorded type gets its extension's, as azcopy and az set it.
  if (options.contentType.empty() || options.contentType == "application/octet-stream") {
    options.contentType = contentTypeOf(fromName);
  }
  if (source.size == 0 && !dynamic_cast<FileStore*>(&from)) {
    // Empty by its listing: nothing to download (a ranged GET of an empty
    // blob is a 416 and a HEAD, two round trips for no bytes).
    MemorySource nothing("");
    return writeBlob(to, toName, nothing, options, write, existing);
  }
  if (dynamic_cast<FileStore*>(&from)) {
    // A local file is read directly (random access lets blocks go up in parallel).
    FileSource file("/" + fromName);
    return writeBlob(to, toName, file, options, write, existing,
                     [&, sent = uint64_t{0}](uint64_t done) mutable {
                       if (onBytes) onBytes(done - sent);
                       sent = done;
                     });
  }
  auto* fileStore = dynamic_cast<FileStore*>(&to);
  if (fileStore && write.mode != WriteMode::kAppend) {
    // To a local file: parts land in place as they arrive, in parallel.
    auto pending = fileStore->beginFile(toName);
    from.getUnordered(
        fromName,
        [&](uint64_t offset, const char* data, size_t size) {
          pending->writeAt(offset, data, size);
        },
        [&, sent = uint64_t{0}](uint64_t done) mutable {
          if (onBytes) onBytes(done - sent);
          sent = done;
        });
    return fileStore->commitFile(*pending, options);
  }
  Bridge bridge(source.size);
  std::thread download([&] {
    try {
      from.get(fromName, [&](const char* data, size_t bytes) {
        bridge.push(data, bytes);
        if (onBytes) onBytes(bytes);
      });
      bridge.close(nullptr);
    } catch (...) {
      bridge.close(std::current_exception());
    }
  });
  try {
    BlobProperties written = writeBlob(to, toName, bridge, options, write, existing);
    download.join();
    return written;
  } catch (...) {
    bridge.abort();
    download.join();
    throw;
  }
}

std::vector<CopiedBlob> copyBlobs(const Endpoint& from, const Endpoint& to,
                                  const CopyOptions& options) {
  // Which blobs, and the name each gets at the destination.
  std::vector<std::pair<BlobProperties, std::string>> plan;  // source, destination name
  if (options.recursive) {
    const std::string prefix = asPrefix(from.path);
    uint64_t total = 0;
    for (auto& blob : listAll(*from.store, prefix, true)) {
      std::string target = asPrefix(to.path) + blob.name.substr(prefix.size());
      total += blob.size;
      plan.emplace_back(std::move(blob), std::move(target));
    }
    if (plan.empty()) {
      throw BlobError(ErrorKind::kNotFound, "nothing to copy: no blobs under this prefix",
                      from.store->uriOf(prefix), "check the source URI");
    }
    if (options.onTotal) options.onTotal(total);
  } else {
    auto blob = from.store->head(from.path);
    if (!blob) {
      throw BlobError(ErrorKind::kNotFound, "no such blob", from.store->uriOf(from.path),
                      endsWithSlash(from.path) || from.path.empty()
                          ? "use -r to copy everything under a prefix"
                          : "check the name, or use -r to copy a directory");
    }
    const std::string target =
        to.path.empty() || endsWithSlash(to.path) ? to.path + baseName(from.path) : to.path;
    if (options.onTotal) options.onTotal(blob->size);
    plan.emplace_back(std::move(*blob), target);
  }
  to.store->ensureContainer();

  // What is at the destinations now, where replacing it could change its kind:
  // one listing for a tree, one HEAD for a blob.
  std::map<std::string, BlobProperties> existing;
  if (options.write.mode == WriteMode::kDefault) {
    if (options.recursive) {
      for (auto& blob : listAll(*to.store, asPrefix(to.path))) {
        if (!blob.blobType.empty() && blob.blobType != "BlockBlob") {
          existing.emplace(blob.name, std::move(blob));
        }
      }
    } else if (auto blob = to.store->head(plan.front().second);
               blob && !blob->blobType.empty() && blob->blobType != "BlockBlob") {
      existing.emplace(plan.front().second, std::move(*blob));
    }
  }
  const auto existingAt = [&](const std::string& name) -> std::optional<BlobProperties> {
    const auto it = existing.find(name);
    if (it == existing.end()) return std::nullopt;
    return it->second;
  };

  const bool sameStore = from.store == to.store && options.write.mode == WriteMode::kDefault &&
                         options.write.contentType.empty();
  std::vector<CopiedBlob> copied(plan.size());
  const auto copyOne = [&](size_t i) {
    const auto& [source, target] = plan[i];
    BlobProperties written;
    if (sameStore && !existingAt(target)) {
      written = to.store->copy(source.name, target);
      if (options.onBytes) options.onBytes(written.size);
    } else {
      written = streamBlob(*from.store, source, *to.store, target, options.onBytes, options.write,
                           existingAt(target));
    }
    copied[i] = CopiedBlob{source.name, target, written.size, written.etag};
  };
  // Copies that wait on no round trip first (local files, or empty blobs
  // written from their listing, into local files), a few at once: more
  // would only queue on the directory's lock in the kernel, spinning there.
  // Then small files, many at once (each is a round trip or two), then the
  // large ones, fewer at once (each sends its blocks in parallel already).
  const bool toLocal = dynamic_cast<FileStore*>(to.store) != nullptr;
  const bool fromLocal = dynamic_cast<FileStore*>(from.store) != nullptr;
  enum class Lane { kLocal, kSmall, kLarge };
  const auto laneOf = [&](const BlobProperties& source) {
    if (toLocal && (fromLocal || source.size == 0)) return Lane::kLocal;
    return source.size <= kSmallFileBytes ? Lane::kSmall : Lane::kLarge;
  };
  for (const Lane lane : {Lane::kLocal, Lane::kSmall, Lane::kLarge}) {
    int inFlight = options.parallelFiles;
    if (inFlight <= 0) {
      inFlight = lane == Lane::kLocal   ? kLocalFilesInFlight
                 : lane == Lane::kSmall ? kSmallFilesInFlight
                                        : kLargeFilesInFlight;
    }
    if (!options.recursive) inFlight = 1;
    BoundedExecutor executor(inFlight, static_cast<size_t>(inFlight) * 2);
    for (size_t i = 0; i < plan.size(); ++i) {
      if (laneOf(plan[i].first) != lane) continue;
      if (!executor.submit([&copyOne, i] { copyOne(i); })) break;
    }
    executor.finish();
  }
  return copied;
}

}  // namespace skiff::blob
