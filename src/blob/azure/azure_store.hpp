#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "blob/azure/credentials.hpp"
#include "blob/blob_store.hpp"

namespace skiff::http {
class Client;
struct Response;
}  // namespace skiff::http

namespace skiff::blob::azure {

struct RetryPolicy {
  int maxAttempts = 6;  // first try included
  std::chrono::milliseconds baseDelay{200};
  std::chrono::milliseconds maxDelay{15000};
};

struct TransferOptions {
  uint64_t blockSize = 8ull << 20;  // Put Block size and ranged-GET size
  int concurrency = 8;              // parallel blocks of one blob
  RetryPolicy retry;
  // An attempt that moves less than 1 KiB/s for this long (a store that
  // accepted the connection and does not answer) fails and is retried, so a
  // request takes at most about its bytes at 1 KiB/s, and a stalled one at
  // most this. Connects time out after it too.
  std::chrono::seconds stallTimeout{10};
};

// Transfer settings from SKIFF_BLOB_BLOCK_SIZE, SKIFF_BLOB_CONCURRENCY,
// SKIFF_BLOB_RETRIES and SKIFF_BLOB_STALL_TIMEOUT, falling back to the
// defaults above.
TransferOptions transferOptionsFromEnvironment();

// Azure Blob over its REST API (one container). Requests share a pool of
// keep-alive connections; large blobs move as parallel blocks / ranges;
// transient failures (408, 429, 5xx, connection faults) are retried with
// exponential backoff, jitter and Retry-After.
class AzureStore : public BlobStore {
 public:
  AzureStore(std::string account, std::string container, Credentials credentials,
             TransferOptions options = transferOptionsFromEnvironment());
  ~AzureStore() override;

  std::string uriOf(std::string_view name) const override;
  ListPage list(const ListOptions& options) override;
  std::optional<BlobProperties> head(const std::string& name) override;
  BlobProperties get(const std::string& name, const Sink& sink, const ByteRange& range,
                     const Conditions& conditions, const ProgressCallback& progress) override;
  BlobProperties getUnordered(const std::string& name, const PositionalSink& sink,
                              const ProgressCallback& progress) override;
  BlobProperties put(const std::string& name, Source& source, const PutOptions& options,
                     const ProgressCallback& progress) override;
  BlobProperties append(const std::string& name, Source& source,
                        const PutOptions& options) override;
  void remove(const std::string& name, const Conditions& conditions) override;
  BlobProperties copy(const std::string& from, const std::string& to) override;
  void ensureContainer() override;
  std::unique_ptr<BlockUpload> beginBlockUpload(const std::string& name,
                                                const ProgressCallback& progress) override;

  struct Call;  // one REST call: see azure_store.cpp

 private:
  class Blocks;  // a BlockUpload: see azure_store.cpp
  struct FirstPart {
    BlobProperties properties;  // of the whole blob
    std::string body;
  };

  http::Response execute(const Call& call);
  // The blob's HEAD when it holds what `write` sent (its writtenMd5).
  std::optional<http::Response> ownEarlierWrite(const Call& write);
  http::Response rangedGet(const std::string& name, uint64_t offset, uint64_t length,
                           const Conditions& conditions);
  // The first block of a read: learns the size and ETag of the blob.
  FirstPart readFirstPart(const std::string& name, const ByteRange& range,
                          const Conditions& conditions);
  std::string readPinnedRange(const std::string& name, uint64_t offset, uint64_t length,
                              const std::string& etag);
  void streamPinnedRange(const std::string& name, uint64_t offset, uint64_t length,
                         const std::string& etag, const PositionalSink& sink,
                         const std::function<void(uint64_t)>& onBytes);
  std::string urlPath(const std::string& name) const;
  BlobProperties putSingle(const std::string& name, std::string_view data,
                           const PutOptions& options);
  BlobProperties putBlocks(const std::string& name, Source& source, std::string firstBlock,
                           const PutOptions& options, const ProgressCallback& progress);

  std::string account_;
  std::string container_;
  Credentials credentials_;
  std::string keyBytes_;
  TransferOptions options_;
  std::unique_ptr<http::Client> client_;
};

}  // namespace skiff::blob::azure
