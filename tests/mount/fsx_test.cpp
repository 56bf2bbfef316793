// The exerciser (skiff_fsx, tests/mount/fsx.cpp) through real read-write
// mounts: file:// and Azurite, the default cache timeout and 0, a small
// cache (so that reads of large files stream), and Azurite behind a proxy
// that injects faults (503 bursts, resets, responses cut after the service
// applied the request) and latency. After each run the store holds exactly
// each file's final shadow, read with the BlobStore API, and so does a fresh
// mount. Fixed seeds; SKIFF_FSX_SEED and SKIFF_FSX_OPS run others
// (docs/mount.md, "Exercising a mount").

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "../blob/blob_fixture.hpp"
#include "../blob/fault_proxy.hpp"
#include "blob/uri.hpp"
#include "mount_helper.hpp"

namespace skiff::blob::testing {
namespace {

using skiff::testing::Azurite;
using skiff::testing::TempDir;

constexpr uint64_t kMaxSize = 24ull << 20;  // past 2 blocks of 8 MiB and half of a 32 MiB cache
constexpr int kFiles = 3;

struct FsxCase {
  std::string name;
  std::string store;  // "file" or "azure"
  std::vector<std::string> mountArguments;
  uint64_t cacheSize = 0;  // the mount's --cache-size, when it is set
  bool faults = false;
  uint64_t seed = 0;
  uint64_t ops = 0;
};

uint64_t fromEnvironment(const char* name, uint64_t fallback) {
  const char* value = std::getenv(name);
  return value && *value ? std::stoull(value) : fallback;
}

// For gtest's messages: the case's name.
void PrintTo(const FsxCase& params, std::ostream* out) {
  *out << params.name;
}

class FsxTest : public ::testing::TestWithParam<FsxCase> {};

TEST_P(FsxTest, TheStoreHoldsWhatTheExerciserWrote) {
  const FsxCase& params = GetParam();
  const uint64_t seed = fromEnvironment("SKIFF_FSX_SEED", params.seed);
  const uint64_t ops = fromEnvironment("SKIFF_FSX_OPS", params.ops);
  SCOPED_TRACE(fmt::format("seed {}, {} ops", seed, ops));

  TempDir storeDir("skiff-fsx-store");
  std::string uri;
  std::unique_ptr<BlobStore> store;
  std::string prefix;  // of the blob names
  if (params.store == "file") {
    uri = "file://" + storeDir.path().string();
    store = std::make_unique<FileStore>();
    prefix = storeDir.path().string().substr(1) + "/";
  } else {
    const std::string container = uniqueContainer("fsx");
    uri = "az://" + std::string(Azurite::kAccount) + "/" + container;
    store = std::make_unique<azure::AzureStore>(Azurite::kAccount, container, azuriteCredentials());
    store->ensureContainer();
  }
  std::unique_ptr<FaultProxy> proxy;
  std::string connection = Azurite::shared().connectionString();
  if (params.faults) {
    proxy = std::make_unique<FaultProxy>(Azurite::shared().port());
    proxy->setLatency(std::chrono::milliseconds(2));
    connection = fmt::format(
        "DefaultEndpointsProtocol=http;AccountName={};AccountKey={};"
        "BlobEndpoint=http://127.0.0.1:{}/{};",
        Azurite::kAccount, Azurite::kKey, proxy->port(), Azurite::kAccount);
  }
  std::vector<std::string> mountArguments = params.mountArguments;
  std::vector<std::string> fsxArguments = {
      SKIFF_FSX_BINARY,        "--seed",  std::to_string(seed),   "--ops",
      std::to_string(ops),     "--files", std::to_string(kFiles), "--max-size",
      std::to_string(kMaxSize)};
  if (params.cacheSize) {
    mountArguments.insert(mountArguments.end(), {"--cache-size", std::to_string(params.cacheSize)});
    fsxArguments.insert(fsxArguments.end(), {"--cache-size", std::to_string(params.cacheSize)});
  }
  TempDir shadows("skiff-fsx-shadows");
  {
    Mount mount(uri, mountArguments, connection);
    fsxArguments.insert(fsxArguments.end(),
                        {"--dir", mount.path().string(), "--shadow-out", shadows.path().string()});
    // About one request in 15 starts a burst of up to 3 faults; no request
    // is failed more than twice, so every one gets through on its retries.
    if (proxy) {
      proxy->randomFaults(seed, 15,
                          {FaultProxy::Fault::kUnavailable, FaultProxy::Fault::kReset,
                           FaultProxy::Fault::kCutResponse},
                          3);
    }
    const auto start = std::chrono::steady_clock::now();
    const auto run = runCommand(fsxArguments);
    if (proxy) proxy->script({});
    std::cerr << fmt::format(
        "{}: skiff_fsx --seed {} --ops {}: {:.1f} s{}\n{}", params.name, seed, ops,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
        proxy
            ? fmt::format(", {} of {} requests faulted", proxy->faultsInjected(), proxy->requests())
            : "",
        run.out);
    ASSERT_EQ(run.exitCode, 0) << run.err << "\nthe end of the mount's log:\n" << mount.logTail();
    if (proxy) {
      EXPECT_GT(proxy->faultsInjected(), 0);
    }
  }

  // The store, read directly, holds each final shadow, and nothing else.
  std::vector<std::string> expected;
  for (int i = 0; i < kFiles; ++i) expected.push_back(fmt::format("fsx-{}.bin", i));
  std::vector<std::string> listed;
  for (const auto& properties : listAll(*store, prefix)) {
    listed.push_back(properties.name.substr(prefix.size()));
  }
  EXPECT_EQ(listed, expected);
  for (const auto& file : expected) {
    const std::string shadow = readFile(shadows / file);
    const std::string stored = readBlob(*store, prefix + file);
    EXPECT_TRUE(stored == shadow) << file << ": the store has " << stored.size()
                                  << " bytes, sha256 " << sha256(stored) << "; the shadow "
                                  << shadow.size() << " bytes, sha256 " << sha256(shadow);
  }
  // So does a fresh mount (an empty cache).
  Mount fresh(uri, params.mountArguments);
  for (const auto& file : expected) {
    const std::string shadow = readFile(shadows / file);
    const std::string read = readFile(fresh / file);
    EXPECT_TRUE(read == shadow) << file << " through a fresh mount: " << read.size()
                                << " bytes, sha256 " << sha256(read) << "; the shadow "
                                << shadow.size() << " bytes, sha256 " << sha256(shadow);
  }
}

std::string caseName(const ::testing::TestParamInfo<FsxCase>& param) {
  return param.param.name;
}

const std::vector<std::string> kTimeoutZero = {"--cache-timeout", "0"};
constexpr uint64_t kSmallCache = 32ull << 20;  // reads of files over 16 MiB stream

INSTANTIATE_TEST_SUITE_P(Mounts, FsxTest,
                         ::testing::Values(FsxCase{"file", "file", {}, 0, false, 101, 600},
                                           FsxCase{"file_timeout0_small_cache", "file",
                                                   kTimeoutZero, kSmallCache, false, 102, 600},
                                           FsxCase{"azure", "azure", {}, 0, false, 103, 250},
                                           FsxCase{"azure_timeout0_small_cache", "azure",
                                                   kTimeoutZero, kSmallCache, false, 104, 250},
                                           FsxCase{"azure_faults", "azure", {}, 0, true, 105, 200},
                                           FsxCase{"azure_faults_timeout0", "azure", kTimeoutZero,
                                                   0, true, 106, 150}),
                         caseName);

}  // namespace
}  // namespace skiff::blob::testing
