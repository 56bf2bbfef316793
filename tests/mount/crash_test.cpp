// What is in the store when a mount is killed (kill -9) while a writer has
// files in every state (docs/mount.md, "What is in the store, when"):
// closed and fsynced contents are in the store; files still open are not
// (a half-written model never replaces the good one), and are moved to
// CACHE_DIR/recovered/ by the next mount of the same cache, which says so;
// uploads that had failed (pending/) go up with the next mount. The kernel
// mount a killed process leaves is cleaned up here as an operator would.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "../blob/blob_fixture.hpp"
#include "../blob/fault_proxy.hpp"
#include "blob/sources.hpp"
#include "blob/uri.hpp"
#include "mount_helper.hpp"

namespace skiff::blob::testing {
namespace {

using skiff::testing::Azurite;
using skiff::testing::TempDir;

// A writer in a child process: files in every state a kill can find them
// in, then "ready" in a file, then a file written on and on (busy.bin,
// 1 MiB chunks of the chunk's number, up to 64 MiB) until it is killed.
constexpr const char* kWriter = R"py(
import os, sys, time
root, ready = sys.argv[1], sys.argv[2]
held = []
def opened(name, mode, data):
    f = open(os.path.join(root, name), mode)
    f.write(data)
    f.flush()
    return f
opened("closed.txt", "wb", b"closed and done").close()
f = opened("synced.txt", "wb", b"synced, still open")
os.fsync(f.fileno())
held.append(f)
f = opened("synced-then-more.txt", "wb", b"synced part")
os.fsync(f.fileno())
f.write(b" and more after the fsync")
f.flush()
held.append(f)
held.append(opened("open-new.txt", "wb", b"never closed"))
held.append(opened("kept.txt", "r+b", b"CHANGED"))
# A model rewritten over the good one, 20 MiB, not closed yet.
f = open(os.path.join(root, "model.bin"), "wb")
for i in range(20):
    f.write(bytes([i]) * (1 << 20))
f.flush()
held.append(f)
with open(ready, "w") as r:
    r.write("ready")
busy = open(os.path.join(root, "busy.bin"), "wb")
for i in range(64):
    busy.write(bytes([i]) * (1 << 20))
    busy.flush()
time.sleep(600)
)py";

std::string model() {
  std::string data;
  for (int i = 0; i < 20; ++i) data += std::string(1 << 20, static_cast<char>(i));
  return data;
}

// A store to mount: a fresh directory (file://) or a fresh Azurite container.
class MountCrash : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "file") {
      uri_ = "file://" + dir_.path().string();
    } else {
      uri_ = "az://" + std::string(Azurite::kAccount) + "/" + uniqueContainer("crash");
    }
    location_ = parseBlobUri(uri_);
    store_ = GetParam() == "file"
                 ? openStore(location_)
                 : std::make_unique<azure::AzureStore>(Azurite::kAccount, location_.container,
                                                       azuriteCredentials());
    store_->ensureContainer();
  }

  std::string name(const std::string& relative) const {
    return location_.path.empty() ? relative : location_.path + "/" + relative;
  }
  void putBlob(const std::string& relative, const std::string& data) {
    MemorySource source(data);
    store_->put(name(relative), source);
  }
  std::string blob(const std::string& relative) { return readBlob(*store_, name(relative)); }
  bool exists(const std::string& relative) { return store_->head(name(relative)).has_value(); }

  TempDir dir_{"skiff-crash-store"};
  std::string uri_;
  BlobUri location_;
  std::unique_ptr<BlobStore> store_;
};

size_t count(const std::string& text, const std::string& what) {
  size_t found = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++found;
  }
  return found;
}

TEST_P(MountCrash, AKilledMountKeepsWhatWasClosedOrSyncedAndRecoversTheRest) {
  putBlob("kept.txt", "original content");
  const std::string good = "the good model, version 1";
  putBlob("model.bin", good);
  Mount first(uri_);
  TempDir work;
  SpawnOptions options;
  options.stdoutFile = work / "writer.out";
  options.stderrFile = options.stdoutFile;
  Subprocess writer(
      {"/usr/bin/python3", "-c", kWriter, first.path().string(), (work / "ready").string()},
      options);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (readFile(work / "ready") != "ready") {
    ASSERT_TRUE(writer.running()) << readFile(work / "writer.out") << first.logTail();
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << first.logTail();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // busy.bin is being written
  first.kill();
  writer.stop();

  // The store: what was closed or fsynced, and the store's version of the rest.
  EXPECT_EQ(blob("closed.txt"), "closed and done");
  EXPECT_EQ(blob("synced.txt"), "synced, still open");
  EXPECT_EQ(blob("synced-then-more.txt"), "synced part") << "up to the fsync";
  EXPECT_FALSE(exists("open-new.txt")) << "never closed: not uploaded";
  EXPECT_EQ(blob("kept.txt"), "original content");
  EXPECT_EQ(blob("model.bin"), good) << "a half-written model never replaces the good one";
  EXPECT_FALSE(exists("busy.bin"));

  // The next mount of the same cache moves the unclosed files to recovered/ and says so.
  Mount again(uri_, {}, Azurite::shared().connectionString(), first.cacheDir());
  const auto recovered = first.cacheDir() / "recovered";
  EXPECT_NE(again.output().find("skiff mount: 5 files recovered in " + recovered.string()),
            std::string::npos)
      << again.output();
  EXPECT_EQ(count(again.log(), "never closed or synced, not uploaded; kept at"), 5u) << again.log();
  EXPECT_EQ(readFile(recovered / name("synced-then-more.txt")),
            "synced part and more after the fsync");
  EXPECT_EQ(readFile(recovered / name("open-new.txt")), "never closed");
  EXPECT_EQ(readFile(recovered / name("kept.txt")), "CHANGEDl content");
  EXPECT_TRUE(readFile(recovered / name("model.bin")) == model());
  EXPECT_FALSE(std::filesystem::exists(recovered / name("synced.txt"))) << "it is in the store";
  EXPECT_FALSE(std::filesystem::exists(recovered / name("closed.txt")));
  // busy.bin: whatever the writer got in before the kill, every byte in place.
  const std::string busy = readFile(recovered / name("busy.bin"));
  EXPECT_GT(busy.size(), 0u);
  for (size_t at = 0; at < busy.size(); at += 4096) {
    ASSERT_EQ(static_cast<unsigned char>(busy[at]), (at >> 20) & 0xff) << at;
  }
  // Through the mount: the store's versions.
  EXPECT_EQ(readFile(again / "kept.txt"), "original content");
  EXPECT_EQ(readFile(again / "model.bin"), good);
  EXPECT_FALSE(std::filesystem::exists(again / "open-new.txt"));
  again.unmount();

  // Recovered once: a later mount finds nothing new, and keeps recovered/.
  Mount third(uri_, {}, Azurite::shared().connectionString(), first.cacheDir());
  EXPECT_EQ(third.output().find("recovered"), std::string::npos) << third.output();
  EXPECT_EQ(readFile(recovered / name("open-new.txt")), "never closed");
}

TEST_P(MountCrash, ASecondMountOfTheSameCacheIsRefused) {
  Mount first(uri_);
  TempDir other;
  std::filesystem::create_directories(other / "mnt");
  const auto second = skiff::testing::runSkiff(
      {"mount", uri_, (other / "mnt").string(), "--cache-dir", first.cacheDir().string()},
      {{"AZURE_STORAGE_CONNECTION_STRING", Azurite::shared().connectionString()}});
  EXPECT_EQ(second.exitCode, 1);
  EXPECT_NE(second.err.find("the cache directory is in use by another mount"), std::string::npos)
      << second.err;
  EXPECT_FALSE(isFuseMount(other / "mnt"));
}

std::string storeName(const ::testing::TestParamInfo<std::string>& param) {
  return param.param;
}
INSTANTIATE_TEST_SUITE_P(Stores, MountCrash, ::testing::Values("file", "azure"), storeName);

// Azurite behind a proxy that can fail every upload (503 to each PUT).
class PendingTest : public ::testing::Test {
 protected:
  void SetUp() override { store_.ensureContainer(); }

  std::string proxied() const {
    return fmt::format(
        "DefaultEndpointsProtocol=http;AccountName={};AccountKey={};"
        "BlobEndpoint=http://127.0.0.1:{}/{};",
        Azurite::kAccount, Azurite::kKey, proxy_.port(), Azurite::kAccount);
  }
  void failUploads() { proxy_.scriptMatching("PUT ", {}, FaultProxy::Fault::kUnavailable); }
  void putBlob(const std::string& name, const std::string& data) {
    MemorySource source(data);
    store_.put(name, source);
  }
  // Writes a file through the mount and closes it; returns close's errno (0: it went up).
  static int writeAndClose(const std::filesystem::path& path, const std::string& data) {
    const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0) return errno;
    if (::write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) return errno;
    return ::close(fd) == 0 ? 0 : errno;
  }
  size_t journals(const std::filesystem::path& cacheDir) {
    size_t found = 0;
    for (const auto& entry : std::filesystem::directory_iterator(cacheDir / "pending")) {
      const auto extension = entry.path().extension();
      found += extension != ".data" && extension != ".tmp" ? 1 : 0;
    }
    return found;
  }
  bool waitForBlob(const std::string& name, const std::string& data) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(40);
    while (std::chrono::steady_clock::now() < deadline) {
      const auto properties = store_.head(name);
      if (properties && properties->size == data.size() && readBlob(store_, name) == data) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }

  std::string container_ = uniqueContainer("pending");
  azure::AzureStore azure_{Azurite::kAccount, container_, azuriteCredentials()};
  BlobStore& store_ = azure_;
  std::string uri_ = "az://" + std::string(Azurite::kAccount) + "/" + container_;
  FaultProxy proxy_{Azurite::shared().port()};
};

// Closed files whose upload failed stay in pending/ through a kill -9 and
// go up with the next mount of the same cache: new files (one made of
// blocks) and a changed one. A later mount's own failed upload used to take
// the name of an earlier mount's journal (pending/0, numbered by cache file
// in each run) and replace it: that upload was lost.
TEST_F(PendingTest, PendingUploadsSurviveKillsAndGoUpWithTheNextMount) {
  putBlob("changed.txt", "version 1");
  const std::string small = randomBytes(100 << 10, 1);
  const std::string large = randomBytes(12 << 20, 2);  // blocks while written, then whole
  const std::string later = randomBytes(50 << 10, 3);
  Mount first(uri_, {}, proxied());
  failUploads();
  EXPECT_EQ(writeAndClose(first / "new.txt", small), EIO);
  EXPECT_EQ(writeAndClose(first / "changed.txt", "version 2"), EIO);
  EXPECT_EQ(writeAndClose(first / "large.bin", large), EIO);
  EXPECT_EQ(journals(first.cacheDir()), 3u);
  first.kill();

  // Killed again with the store still failing, after an upload of its own failed.
  {
    Mount second(uri_, {}, proxied(), first.cacheDir());
    EXPECT_EQ(writeAndClose(second / "later.txt", later), EIO);
    EXPECT_EQ(journals(first.cacheDir()), 4u);
    second.kill();
  }
  EXPECT_FALSE(store_.head("new.txt")) << "nothing went up while the store failed";

  // A mount with the store answering uploads them all, and recovers nothing.
  proxy_.script({});
  Mount third(uri_, {}, Azurite::shared().connectionString(), first.cacheDir());
  EXPECT_TRUE(waitForBlob("new.txt", small)) << third.logTail();
  EXPECT_TRUE(waitForBlob("changed.txt", "version 2")) << third.logTail();
  EXPECT_TRUE(waitForBlob("large.bin", large)) << third.logTail();
  EXPECT_TRUE(waitForBlob("later.txt", later)) << third.logTail();
  EXPECT_EQ(journals(first.cacheDir()), 0u);
  EXPECT_FALSE(std::filesystem::exists(first.cacheDir() / "conflicts")) << third.logTail();
  EXPECT_EQ(third.output().find("recovered"), std::string::npos) << third.output();
}

// An fsync that failed leaves its state pending; the writer goes on and
// closes later. The retry of that pending state used to mark the file
// clean, so the close uploaded nothing and the later writes were lost (and
// the next upload's condition was stale).
TEST_F(PendingTest, APendingUploadDoesNotHideLaterWrites) {
  Mount mount(uri_, {}, proxied());
  const int fd = ::open((mount / "model.bin").c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "first", 5), 5);
  failUploads();
  EXPECT_EQ(::fsync(fd), -1);
  EXPECT_EQ(errno, EIO);
  ASSERT_EQ(::write(fd, " and second", 11), 11);
  proxy_.script({});
  // The retry (every 15 s) sends the fsynced state, not what came after it.
  EXPECT_TRUE(waitForBlob("model.bin", "first")) << mount.logTail();
  ASSERT_EQ(::close(fd), 0) << std::strerror(errno) << mount.logTail();
  EXPECT_EQ(readBlob(store_, "model.bin"), "first and second");
  EXPECT_FALSE(std::filesystem::exists(mount.cacheDir() / "conflicts")) << mount.logTail();
  EXPECT_EQ(journals(mount.cacheDir()), 0u);
}

}  // namespace
}  // namespace skiff::blob::testing
