// Retries against a live Azurite behind a fault-injecting proxy: transient
// faults are ridden out, exhausted retries fail cleanly, and nothing partial
// is ever left behind.

#include <gtest/gtest.h>

#include "blob/errors.hpp"
#include "blob/sources.hpp"
#include "blob_fixture.hpp"
#include "fault_proxy.hpp"

namespace skiff::blob::testing {
namespace {

using Fault = FaultProxy::Fault;

class RetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    container_ = uniqueContainer("retry");
    direct_ = std::make_unique<azure::AzureStore>(skiff::testing::Azurite::kAccount, container_,
                                                  azuriteCredentials());
    direct_->ensureContainer();
    proxy_ = std::make_unique<FaultProxy>(skiff::testing::Azurite::shared().port());
  }

  // A store that talks to Azurite through the proxy, with fast retries.
  std::unique_ptr<BlobStore> proxied(int maxAttempts = 4, int concurrency = 1) {
    auto credentials = azuriteCredentials();
    credentials.blobEndpoint =
        fmt::format("http://127.0.0.1:{}/{}", proxy_->port(), skiff::testing::Azurite::kAccount);
    azure::TransferOptions options;
    options.blockSize = 1 << 20;
    options.concurrency = concurrency;
    options.retry.maxAttempts = maxAttempts;
    options.retry.baseDelay = std::chrono::milliseconds(1);
    options.retry.maxDelay = std::chrono::milliseconds(20);
    return std::make_unique<azure::AzureStore>(skiff::testing::Azurite::kAccount, container_,
                                               credentials, options);
  }

  std::string container_;
  std::unique_ptr<BlobStore> direct_;
  std::unique_ptr<FaultProxy> proxy_;
};

TEST_F(RetryTest, DroppedConnectionsAnd503sAreRiddenOut) {
  auto store = proxied();
  const std::string data = randomBytes((3 << 20) + 7, 11);  // four blocks and a commit
  proxy_->script({Fault::kReset, Fault::kUnavailable, Fault::kNone, Fault::kReset,
                  Fault::kUnavailable, Fault::kNone, Fault::kUnavailable, Fault::kReset});
  MemorySource source(data);
  store->put("flaky.bin", source);
  EXPECT_EQ(proxy_->faultsInjected(), 6);
  EXPECT_EQ(sha256(readBlob(*direct_, "flaky.bin")), sha256(data));

  // Downloads too, including a response cut off mid-body.
  proxy_->script({Fault::kCutResponse, Fault::kReset, Fault::kNone, Fault::kUnavailable});
  EXPECT_EQ(sha256(readBlob(*store, "flaky.bin")), sha256(data));
}

TEST_F(RetryTest, StreamedRangesStartOverAfterACutResponse) {
  auto store = proxied();
  const std::string data = randomBytes((3 << 20) + 7, 13);
  MemorySource source(data);
  direct_->put("streamed.bin", source);
  std::string back(data.size(), '\0');
  uint64_t progress = 0;
  // First part fine; the streamed rest is cut mid-body, then refused, then served.
  proxy_->script({Fault::kNone, Fault::kCutResponse, Fault::kUnavailable});
  const auto properties = store->getUnordered(
      "streamed.bin",
      [&](uint64_t offset, const char* bytes, size_t size) {
        ASSERT_LE(offset + size, back.size());
        std::memcpy(back.data() + offset, bytes, size);
      },
      [&](uint64_t done) { progress = done; });
  EXPECT_EQ(proxy_->faultsInjected(), 2);
  EXPECT_EQ(properties.size, data.size());
  EXPECT_EQ(progress, data.size()) << "each byte counted once";
  EXPECT_EQ(sha256(back), sha256(data));
}

TEST_F(RetryTest, RetryAfterIsHonoured) {
  auto store = proxied();
  proxy_->setRetryAfterSeconds(1);
  proxy_->script({Fault::kUnavailable});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(store->head("absent"));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(950))
      << "the service asked for a second";
  EXPECT_EQ(proxy_->requests(), 2);
}

TEST_F(RetryTest, ExhaustedRetriesFailCleanlyWithoutPartialBlobs) {
  auto store = proxied(3);
  // The first block goes through, then the service keeps failing.
  proxy_->script({Fault::kNone}, Fault::kUnavailable);
  const std::string data = randomBytes(3 << 20, 5);
  MemorySource source(data);
  try {
    store->put("never.bin", source);
    FAIL() << "the upload must fail";
  } catch (const BlobError& e) {
    const std::string message = e.what();
    EXPECT_EQ(e.kind(), ErrorKind::kUnavailable) << message;
    EXPECT_NE(message.find("gave up after 3 attempts"), std::string::npos) << message;
    EXPECT_NE(message.find("HTTP 503"), std::string::npos) << message;
    EXPECT_NE(message.find("az://devstoreaccount1/" + container_ + "/never.bin"), std::string::npos)
        << message;
  }
  EXPECT_FALSE(direct_->head("never.bin")) << "no partial blob";

  // Overwriting an existing blob that fails midway leaves the old one whole.
  MemorySource original("the original");
  direct_->put("kept.txt", original);
  proxy_->script({Fault::kNone}, Fault::kReset);
  MemorySource replacement(data);
  EXPECT_THROW(store->put("kept.txt", replacement), BlobError);
  EXPECT_EQ(readBlob(*direct_, "kept.txt"), "the original");
}

TEST_F(RetryTest, ClientErrorsAreNotRetried) {
  auto store = proxied();
  EXPECT_THROW(readBlob(*store, "missing"), BlobError);
  EXPECT_EQ(proxy_->requests(), 1);
  auto credentials = azuriteCredentials();
  credentials.key = "d3Jvbmcga2V5IHdyb25nIGtleSB3cm9uZyBrZXk=";
  credentials.blobEndpoint =
      fmt::format("http://127.0.0.1:{}/{}", proxy_->port(), skiff::testing::Azurite::kAccount);
  azure::AzureStore wrongKey(skiff::testing::Azurite::kAccount, container_, credentials);
  EXPECT_THROW(wrongKey.head("x"), BlobError);  // 403 AuthenticationFailed
  EXPECT_EQ(proxy_->requests(), 2);
}

TEST_F(RetryTest, UnreachableServiceFailsWithinBoundedTime) {
  auto credentials = azuriteCredentials();
  credentials.blobEndpoint =
      fmt::format("http://127.0.0.1:{}/{}", skiff::testing::freeLoopbackPort(),
                  skiff::testing::Azurite::kAccount);
  azure::TransferOptions options;
  options.retry.maxAttempts = 3;
  options.retry.baseDelay = std::chrono::milliseconds(10);
  azure::AzureStore store(skiff::testing::Azurite::kAccount, container_, credentials, options);
  const auto start = std::chrono::steady_clock::now();
  try {
    store.head("x");
    FAIL();
  } catch (const BlobError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnavailable);
    EXPECT_NE(std::string(e.what()).find("cannot reach the storage service"), std::string::npos)
        << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
}

}  // namespace
}  // namespace skiff::blob::testing
