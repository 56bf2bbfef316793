#pragma once

// Stores under test: the same cases run against file:// and a live Azurite.

#include <fmt/format.h>
#include <openssl/sha.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>

#include "blob/azure/azure_store.hpp"
#include "blob/blob_store.hpp"
#include "blob/file_store.hpp"
#include "harness/services.hpp"
#include "harness/temp_dir.hpp"

namespace skiff::blob::testing {

inline azure::Credentials azuriteCredentials() {
  azure::Credentials credentials;
  credentials.account = skiff::testing::Azurite::kAccount;
  credentials.key = skiff::testing::Azurite::kKey;
  credentials.blobEndpoint = skiff::testing::Azurite::shared().blobEndpoint();
  return credentials;
}

// A fresh container name per call, so tests do not see each other's blobs.
inline std::string uniqueContainer(const std::string& stem) {
  static std::mt19937_64 generator{std::random_device{}()};
  return stem + "-" + std::to_string(generator() % 1000000000);
}

// A store and the prefix under which a test may write.
struct StoreUnderTest {
  std::unique_ptr<BlobStore> store;
  std::string root;  // prefix, ends with '/' or is empty
  std::unique_ptr<skiff::testing::TempDir> dir;
};

inline StoreUnderTest makeStore(const std::string& kind,
                                azure::TransferOptions options = azure::TransferOptions()) {
  StoreUnderTest result;
  if (kind == "file") {
    result.dir = std::make_unique<skiff::testing::TempDir>("skiff-blob");
    result.store = std::make_unique<FileStore>();
    result.root = result.dir->path().string().substr(1) + "/";
  } else {
    result.store = std::make_unique<azure::AzureStore>(
        skiff::testing::Azurite::kAccount, uniqueContainer("test"), azuriteCredentials(), options);
    result.store->ensureContainer();
  }
  return result;
}

inline std::string randomBytes(size_t size, uint64_t seed = 42) {
  std::mt19937_64 generator(seed);
  std::string data(size, '\0');
  for (size_t i = 0; i < size; i += 8) {
    const uint64_t value = generator();
    std::memcpy(data.data() + i, &value, std::min<size_t>(8, size - i));
  }
  return data;
}

inline std::string sha256(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  std::string hex;
  for (unsigned char byte : digest) hex += fmt::format("{:02x}", byte);
  return hex;
}

inline std::string readBlob(BlobStore& store, const std::string& name, ByteRange range = {}) {
  std::string data;
  store.get(
      name, [&](const char* bytes, size_t size) { data.append(bytes, size); }, range);
  return data;
}

}  // namespace skiff::blob::testing
