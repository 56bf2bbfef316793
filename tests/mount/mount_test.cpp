// Real FUSE mounts through the skiff binary, over file:// and a live Azurite:
// POSIX behaviour with shell tools and C++ file I/O, freshness, interop,
// read-only mounts and conflicting writes.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "../blob/blob_fixture.hpp"
#include "../blob/fault_proxy.hpp"
#include "blob/errors.hpp"
#include "blob/sources.hpp"
#include "blob/uri.hpp"
#include "common/parallel.hpp"
#include "mount_helper.hpp"

namespace skiff::blob::testing {
namespace {

using skiff::testing::Azurite;
using skiff::testing::TempDir;

// A store to mount: a fresh directory (file://) or a fresh Azurite container.
class MountTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "file") {
      uri_ = "file://" + dir_.path().string();
    } else {
      uri_ = "az://" + std::string(Azurite::kAccount) + "/" + uniqueContainer("mount");
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

  TempDir dir_{"skiff-mount-store"};
  std::string uri_;
  BlobUri location_;
  std::unique_ptr<BlobStore> store_;
};

TEST_P(MountTest, CopyInAndOutKeepsEveryByte) {
  Mount mount(uri_);
  TempDir local;
  for (const size_t size : {size_t{0}, size_t{1}, (size_t{4} << 20) + 1, size_t{300} << 20}) {
    SCOPED_TRACE(size);
    const std::string data = randomBytes(size, size + 1);
    const auto source = local.write("in.bin", data);
    const std::string file = "sizes/" + std::to_string(size) + ".bin";
    ASSERT_EQ(sh("mkdir -p " + (mount / "sizes").string() + " && cp " + source.string() + " " +
                 (mount / file).string())
                  .exitCode,
              0);
    EXPECT_EQ(sha256(blob(file)), sha256(data)) << "the store has what was written";
    ASSERT_EQ(sh("cp " + (mount / file).string() + " " + (local / "out.bin").string()).exitCode, 0);
    EXPECT_EQ(sha256(readFile(local / "out.bin")), sha256(data));
    EXPECT_EQ(std::filesystem::file_size(mount / file), size);
  }
}

TEST_P(MountTest, SeeksPartialReadsAndAppends) {
  const std::string data = randomBytes(3 << 20, 5);
  putBlob("seek.bin", data);
  Mount mount(uri_);
  std::ifstream in(mount / "seek.bin", std::ios::binary);
  for (const size_t offset : {size_t{0}, size_t{1} << 20, data.size() - 10, size_t{12345}}) {
    in.seekg(static_cast<std::streamoff>(offset));
    std::string part(10, '\0');
    in.read(part.data(), 10);
    EXPECT_EQ(part, data.substr(offset, 10)) << offset;
  }
  ASSERT_EQ(sh("printf one > " + (mount / "log.txt").string()).exitCode, 0);
  ASSERT_EQ(sh("printf two >> " + (mount / "log.txt").string()).exitCode, 0);
  {
    std::ofstream out(mount / "log.txt", std::ios::app);
    out << "three";
  }
  EXPECT_EQ(readFile(mount / "log.txt"), "onetwothree");
  EXPECT_EQ(blob("log.txt"), "onetwothree");
  ASSERT_EQ(sh("truncate -s 3 " + (mount / "log.txt").string()).exitCode, 0);
  EXPECT_EQ(blob("log.txt"), "one");
}

TEST_P(MountTest, DirectoriesRenamesAndRemovals) {
  Mount mount(uri_);
  const std::string root = mount.path().string();
  ASSERT_EQ(
      sh("mkdir -p " + root + "/a/b/c/d/e/f/g/h && echo x > " + root + "/a/b/c/file.txt").exitCode,
      0);
  EXPECT_EQ(sh("find " + root + " | sort").out,
            root + "\n" + root + "/a\n" + root + "/a/b\n" + root + "/a/b/c\n" + root +
                "/a/b/c/d\n" + root + "/a/b/c/d/e\n" + root + "/a/b/c/d/e/f\n" + root +
                "/a/b/c/d/e/f/g\n" + root + "/a/b/c/d/e/f/g/h\n" + root + "/a/b/c/file.txt\n");
  ASSERT_EQ(sh("mv " + root + "/a/b/c/file.txt " + root + "/a/moved.txt").exitCode, 0);
  EXPECT_EQ(blob("a/moved.txt"), "x\n");
  EXPECT_FALSE(store_->head(name("a/b/c/file.txt")));
  ASSERT_EQ(sh("mv " + root + "/a " + root + "/renamed").exitCode, 0);
  EXPECT_EQ(readFile(mount / "renamed/moved.txt"), "x\n");
  EXPECT_TRUE(std::filesystem::is_directory(mount / "renamed/b/c/d/e/f/g/h"));
  EXPECT_FALSE(std::filesystem::exists(mount / "a"));
  EXPECT_NE(sh("rmdir " + root + "/renamed").exitCode, 0) << "not empty";
  ASSERT_EQ(sh("rm -r " + root + "/renamed").exitCode, 0);
  EXPECT_EQ(sh("ls -A " + root).out, "");
  EXPECT_TRUE(listAll(*store_, location_.path).empty() || GetParam() == "file");
}

TEST_P(MountTest, ListsFiveThousandEntries) {
  {
    BoundedExecutor executor(16, 64);
    for (int i = 0; i < 5000; ++i) {
      executor.submit([&, i] { putBlob(fmt::format("many/{:05d}.txt", i), "x"); });
    }
    executor.finish();
  }
  Mount mount(uri_);
  EXPECT_EQ(sh("ls " + (mount / "many").string() + " | wc -l").out, "5000\n");
  EXPECT_EQ(sh("find " + mount.path().string() + " -type f | wc -l").out, "5000\n");
  const auto du = sh("du -s --apparent-size --block-size=1 " + (mount / "many").string());
  EXPECT_EQ(du.out.substr(0, du.out.find('\t')), "5000") << du.out;
}

TEST_P(MountTest, ChangesBehindTheMountShowAfterTheCacheTimeout) {
  putBlob("fresh.txt", "old");
  Mount mount(uri_, {"--cache-timeout", "2s"});
  EXPECT_EQ(readFile(mount / "fresh.txt"), "old");
  putBlob("fresh.txt", "new content");
  EXPECT_EQ(readFile(mount / "fresh.txt"), "old") << "served from the cache within the timeout";
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_EQ(readFile(mount / "fresh.txt"), "new content") << "seen after the timeout";
}

TEST_P(MountTest, NamesAddedBehindTheMountShowAfterTheListTimeout) {
  putBlob("dir/a.txt", "a");
  Mount mount(uri_, {"--cache-timeout", "2s"});
  // Looking up dir/a.txt lists dir/ once; that listing answers for its other names.
  EXPECT_EQ(readFile(mount / "dir/a.txt"), "a");
  EXPECT_FALSE(std::filesystem::exists(mount / "dir/missing.txt"));
  putBlob("dir/b.txt", "b");
  EXPECT_FALSE(std::filesystem::exists(mount / "dir/b.txt")) << "answered from the listing";
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_EQ(readFile(mount / "dir/b.txt"), "b") << "seen after the timeout";
  EXPECT_EQ(std::filesystem::file_size(mount / "dir/b.txt"), 1u);
}

TEST_P(MountTest, TimeoutZeroSeesChangesAtOnce) {
  putBlob("now.txt", "old");
  Mount mount(uri_, {"--cache-timeout", "0"});
  EXPECT_EQ(readFile(mount / "now.txt"), "old");
  putBlob("now.txt", "new content");
  EXPECT_EQ(readFile(mount / "now.txt"), "new content");
  putBlob("later.txt", "added");
  EXPECT_EQ(readFile(mount / "later.txt"), "added");
}

TEST_P(MountTest, TimeoutZeroStillCreatesFilesInNewDirectories) {
  // A file being written is only local until close: with no attribute
  // caching, the mount must still know it exists (mkstemp, then rename).
  Mount mount(uri_, {"--cache-timeout", "0"});
  const auto result =
      sh("mkdir -p " + (mount / "m/1").string() + " && cd " + (mount / "m/1").string() +
         " && t=$(mktemp -p . x.XXXXXX) && echo model > $t && mv $t model.onnx");
  ASSERT_EQ(result.exitCode, 0) << result.err;
  EXPECT_EQ(readFile(mount / "m/1/model.onnx"), "model\n");
}

TEST_P(MountTest, ReadingADirectorysFirstFileFetchesTheNextOnesAhead) {
  for (int i = 0; i < 8; ++i) putBlob("scan/f" + std::to_string(i), "file " + std::to_string(i));
  Mount mount(uri_);
  ASSERT_EQ(sh("ls " + (mount / "scan").string() + " | wc -l").out, "8\n");
  EXPECT_EQ(readFile(mount / "scan/f0"), "file 0");
  // The other seven land in the cache without being opened.
  const auto filled = [&] {
    int count = 0;
    for (const auto& entry : std::filesystem::directory_iterator(mount.cacheDir() / "data")) {
      count += entry.file_size() > 0 ? 1 : 0;
    }
    return count;
  };
  for (int i = 0; i < 100 && filled() < 8; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(filled(), 8);
  for (int i = 1; i < 8; ++i) {
    EXPECT_EQ(readFile(mount / ("scan/f" + std::to_string(i))), "file " + std::to_string(i));
  }
}

// A walk (find, ls -lR) reads a directory, then its subdirectories: reading
// one lists its subdirectories (and the directories after it) ahead, so
// their readdirs are answered from those listings, taken before a change
// made behind the mount's back (seen after the list timeout, as any listing).
TEST_P(MountTest, ReadingADirectoryListsItsSubdirectoriesAhead) {
  for (const char* dir : {"tree/a", "tree/b", "tree/c"}) {
    putBlob(std::string(dir) + "/one", "1");
    putBlob(std::string(dir) + "/two", "2");
  }
  putBlob("tree/b/deeper/three", "3");
  Mount mount(uri_, {"--cache-timeout", "3s"});
  ASSERT_EQ(sh("ls " + (mount / "tree").string()).out, "a\nb\nc\n");
  // Give the listings ahead their moment, then change every subdirectory.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  for (const char* dir : {"tree/a", "tree/b", "tree/c"}) putBlob(std::string(dir) + "/new", "n");
  EXPECT_EQ(sh("ls " + (mount / "tree/a").string()).out, "one\ntwo\n") << "listed ahead";
  EXPECT_EQ(sh("ls " + (mount / "tree/c").string()).out, "one\ntwo\n") << "listed ahead";
  EXPECT_EQ(sh("ls " + (mount / "tree/b").string()).out, "deeper\none\ntwo\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  EXPECT_EQ(sh("ls " + (mount / "tree/a").string()).out, "new\none\ntwo\n") << "then current";
  EXPECT_EQ(sh("find " + (mount / "tree").string() + " -type f | wc -l").out, "10\n");
}

// A file written in order goes up in blocks while it is written (on Azure;
// a file:// store takes the file whole on close), so close waits only for
// the last ones; one rewritten below what was sent goes up whole on close.
// Either way the store holds exactly what was written, with its MD5.
TEST_P(MountTest, ASequentialWriteGoesUpWhileItIsWritten) {
  Mount mount(uri_);
  const std::string writer = R"py(
import hashlib, os, sys, time
path, log, rewrite, patience = sys.argv[1], sys.argv[2], sys.argv[3] == "1", int(sys.argv[4])
block = bytes(range(256)) * 4096  # 1 MiB
digest = hashlib.md5()
with open(path, "wb") as f:
    for i in range(20):
        chunk = bytes([i]) + block[1:]
        f.write(chunk)
        digest.update(chunk)
    f.flush()
    # Still open: what went up so far shows in the mount's log.
    sent = False
    for _ in range(patience):
        with open(log) as l:
            sent = "sent up to" in l.read()
        if sent:
            break
        time.sleep(0.1)
    print("sent-before-close" if sent else "nothing-sent-before-close")
    if rewrite:
        f.seek(0)
        f.write(b"X")
print(digest.hexdigest())
)py";
  const bool azure = GetParam() != "file";
  for (const bool rewrite : {false, true}) {
    const std::string file = rewrite ? "rewritten.bin" : "sequential.bin";
    const auto wrote = runCommand({"/usr/bin/python3", "-c", writer, (mount / file).string(),
                                   (mount.cacheDir() / "mount.log").string(), rewrite ? "1" : "0",
                                   azure ? "100" : "10"});
    ASSERT_EQ(wrote.exitCode, 0) << wrote.err;
    EXPECT_EQ(wrote.out.rfind(azure ? "sent-before-close" : "nothing-sent-before-close", 0), 0u)
        << wrote.out << mount.log();
    std::string expected;
    for (int i = 0; i < 20; ++i) {
      std::string chunk(1 << 20, '\0');
      for (size_t j = 0; j < chunk.size(); ++j) chunk[j] = static_cast<char>(j % 256);
      chunk[0] = static_cast<char>(i);
      expected += chunk;
    }
    if (rewrite) expected[0] = 'X';
    EXPECT_TRUE(blob(file) == expected) << file << ": what the store holds differs";
    if (azure) {
      const auto properties = store_->head(name(file));
      ASSERT_TRUE(properties);
      EXPECT_EQ(properties->size, expected.size());
      EXPECT_FALSE(properties->contentMd5.empty()) << "the MD5 of a blob made of blocks is set";
    }
  }
  if (GetParam() != "file") {
    EXPECT_NE(mount.log().find("rewritten below what was sent"), std::string::npos) << mount.log();
  }
}

TEST_P(MountTest, ReadOnlyMountsRejectWrites) {
  putBlob("ro.txt", "keep");
  Mount mount(uri_, {"--read-only"});
  EXPECT_EQ(readFile(mount / "ro.txt"), "keep");
  const int fd = ::open((mount / "ro.txt").c_str(), O_WRONLY);
  EXPECT_EQ(fd, -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::mkdir((mount / "newdir").c_str(), 0755), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::unlink((mount / "ro.txt").c_str()), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(blob("ro.txt"), "keep");
}

TEST_P(MountTest, EmptyDirectoriesSurviveARemount) {
  {
    Mount mount(uri_);
    ASSERT_EQ(::mkdir((mount / "empty").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((mount / "empty/nested").c_str(), 0755), 0);
  }
  Mount again(uri_);
  EXPECT_TRUE(std::filesystem::is_directory(again / "empty/nested"));
  const auto marker = store_->head(name("empty/nested"));
  ASSERT_TRUE(marker) << "a marker blob, as blobfuse writes it";
  EXPECT_TRUE(isDirectoryMarker(marker->metadata));
}

TEST_P(MountTest, AConflictingWriteIsReportedNotLost) {
  putBlob("shared.txt", "original");
  Mount mount(uri_);
  const int fd = ::open((mount / "shared.txt").c_str(), O_WRONLY | O_TRUNC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "mine", 4), 4);
  putBlob("shared.txt", "theirs");  // someone else writes meanwhile
  EXPECT_EQ(::close(fd), -1) << "close reports the conflict";
  EXPECT_EQ(errno, EIO);
  EXPECT_EQ(blob("shared.txt"), "theirs") << "their version is not overwritten";
  EXPECT_NE(mount.log().find("changed by someone else"), std::string::npos) << mount.log();
  // Ours is kept aside, not lost.
  bool kept = false;
  for (const auto& entry : std::filesystem::directory_iterator(mount.cacheDir() / "conflicts")) {
    kept = kept || readFile(entry.path()) == "mine";
  }
  EXPECT_TRUE(kept);
}

// The exerciser's finding (issue 29): a new file grown past the streaming
// threshold, then cut below what was streamed, failed on close with EIO on
// Azurite and was not stored: the uncommitted blocks the mount had sent made
// its own Put Blob (If-None-Match: *) look like someone else's blob.
TEST_P(MountTest, ANewFileCutBelowWhatWasStreamedIsStoredWhole) {
  Mount mount(uri_);
  for (const int finalMiB : {3, 12}) {  // one request, and blocks again
    const std::string file = fmt::format("cut-{}.bin", finalMiB);
    std::string expected;
    const int fd = ::open((mount / file).c_str(), O_CREAT | O_RDWR | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    for (int i = 0; i < 10; ++i) {  // 10 MiB in order: blocks go up while it is written
      const std::string chunk = randomBytes(1 << 20, static_cast<unsigned>(100 + i));
      ASSERT_EQ(::pwrite(fd, chunk.data(), chunk.size(), static_cast<off_t>(expected.size())),
                static_cast<ssize_t>(chunk.size()));
      expected += chunk;
    }
    ASSERT_EQ(::ftruncate(fd, 2 << 20), 0);  // below what was sent
    expected.resize(2 << 20);
    while (expected.size() < static_cast<size_t>(finalMiB) << 20) {
      const std::string chunk = randomBytes(1 << 20, static_cast<unsigned>(expected.size()));
      ASSERT_EQ(::pwrite(fd, chunk.data(), chunk.size(), static_cast<off_t>(expected.size())),
                static_cast<ssize_t>(chunk.size()));
      expected += chunk;
    }
    EXPECT_EQ(::close(fd), 0) << std::strerror(errno) << "\n" << mount.log();
    EXPECT_TRUE(blob(file) == expected) << file << ": the store does not hold what was written";
  }
  EXPECT_FALSE(std::filesystem::exists(mount.cacheDir() / "conflicts"))
      << "the mount's own blocks are no conflict";
}

// Found by skiff_fsx (issue 29): an O_TRUNC open of a file that another
// descriptor had changed (not uploaded yet) did not empty it: the kernel
// saw 0 bytes, while reads beyond and the upload on close had the old ones.
TEST_P(MountTest, AnOTruncOpenBesideAWriterEmptiesTheFile) {
  Mount mount(uri_);
  const int writer = ::open((mount / "log.txt").c_str(), O_CREAT | O_RDWR | O_TRUNC, 0644);
  ASSERT_GE(writer, 0);
  ASSERT_EQ(::write(writer, "0123456789", 10), 10);
  const int emptier = ::open((mount / "log.txt").c_str(), O_WRONLY | O_TRUNC);
  ASSERT_GE(emptier, 0);
  ASSERT_EQ(::write(emptier, "new", 3), 3);
  EXPECT_EQ(::close(emptier), 0) << std::strerror(errno);
  EXPECT_EQ(blob("log.txt"), "new");
  struct stat st {};
  ASSERT_EQ(::fstat(writer, &st), 0);
  EXPECT_EQ(st.st_size, 3);
  EXPECT_EQ(::close(writer), 0) << std::strerror(errno);
  EXPECT_EQ(readFile(mount / "log.txt"), "new");
}

// Found by skiff_fsx (issue 29): a file over the streaming threshold with
// changes not uploaded yet was read by a new read-only descriptor from the
// store (the old bytes, and none past the old end) instead of the cache.
TEST_P(MountTest, AReaderOfALargeFileBeingWrittenSeesTheWrites) {
  putBlob("big.bin", randomBytes(10 << 20, 1));
  Mount mount(uri_, {"--cache-size", "16Mi"});  // read-only opens of files over 8 MiB stream
  const std::string data = randomBytes(12 << 20, 2);
  const int writer = ::open((mount / "big.bin").c_str(), O_RDWR);
  ASSERT_GE(writer, 0);
  ASSERT_EQ(::pwrite(writer, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
  EXPECT_TRUE(readFile(mount / "big.bin") == data) << "a reader sees what the writer wrote";
  EXPECT_EQ(::close(writer), 0) << std::strerror(errno);
  EXPECT_TRUE(blob("big.bin") == data);
  EXPECT_TRUE(readFile(mount / "big.bin") == data);
}

TEST_P(MountTest, LargeFilesStreamWithBoundedCache) {
  const std::string data = randomBytes(40 << 20, 40);
  putBlob("large.bin", data);
  // A 16 MiB cache streams anything over 8 MiB through ranged reads.
  Mount mount(uri_, {"--cache-size", "16Mi"});
  EXPECT_EQ(sha256(readFile(mount / "large.bin")), sha256(data));
  std::ifstream in(mount / "large.bin", std::ios::binary);
  in.seekg(30 << 20);
  std::string part(100, '\0');
  in.read(part.data(), 100);
  EXPECT_EQ(part, data.substr(30 << 20, 100));
}

std::string storeName(const ::testing::TestParamInfo<std::string>& param) {
  return param.param;
}
INSTANTIATE_TEST_SUITE_P(Stores, MountTest, ::testing::Values("file", "azure"), storeName);

TEST(MountInterop, TreeWrittenThroughTheMountReadsTheSameWithSkiffBlobAndRclone) {
  const std::string container = uniqueContainer("interop");
  const std::string uri = "az://" + std::string(Azurite::kAccount) + "/" + container;
  azure::AzureStore store(Azurite::kAccount, container, azuriteCredentials());
  store.ensureContainer();
  {
    Mount mount(uri);
    ASSERT_EQ(
        sh("mkdir -p " + (mount / "t/sub").string() + " && printf alpha > " +
           (mount / "t/a.txt").string() + " && printf beta > " + (mount / "t/sub/b.txt").string())
            .exitCode,
        0);
  }
  const std::map<std::string, std::string> env = {
      {"AZURE_STORAGE_CONNECTION_STRING", Azurite::shared().connectionString()}};
  const auto skiffList = skiff::testing::runSkiff({"blob", "ls", "-r", uri + "/t"}, env);
  EXPECT_EQ(skiffList.out, "a.txt\nsub\nsub/b.txt\n") << skiffList.err;
  EXPECT_EQ(skiff::testing::runSkiff({"blob", "cat", uri + "/t/sub/b.txt"}, env).out, "beta");

  SpawnOptions rclone;
  rclone.extraEnv = {{"RCLONE_CONFIG_AZ_TYPE", "azureblob"},
                     {"RCLONE_CONFIG_AZ_ACCOUNT", Azurite::kAccount},
                     {"RCLONE_CONFIG_AZ_KEY", Azurite::kKey},
                     {"RCLONE_CONFIG_AZ_ENDPOINT", Azurite::shared().blobEndpoint()},
                     {"RCLONE_CONFIG_AZ_USE_EMULATOR", "true"},
                     {"AWS_CA_BUNDLE", ""}};
  const auto files =
      runCommand({"rclone", "lsf", "-R", "--files-only", "az:" + container + "/t"}, rclone);
  EXPECT_EQ(files.exitCode, 0) << files.err;
  EXPECT_EQ(files.out, "a.txt\nsub/b.txt\n") << files.err;
  EXPECT_EQ(runCommand({"rclone", "cat", "az:" + container + "/t/a.txt"}, rclone).out, "alpha");
}

// `>>` onto an append blob through the mount used to rewrite it as a block blob.
TEST(MountInterop, AppendingThroughTheMountKeepsAnAppendBlob) {
  const std::string uri = "az://" + std::string(Azurite::kAccount) + "/" + uniqueContainer("log");
  const std::map<std::string, std::string> env = {
      {"AZURE_STORAGE_CONNECTION_STRING", Azurite::shared().connectionString()}};
  ASSERT_EQ(skiff::testing::runSkiff({"blob", "cp", "--blob-type", "append", "-", uri + "/run.log"},
                                     env, "one\n")
                .exitCode,
            0);
  {
    Mount mount(uri, {"--cache-timeout", "0"});
    EXPECT_EQ(sh("printf 'two\\n' >> " + (mount / "run.log").string()).exitCode, 0);
    EXPECT_EQ(sh("printf 'three\\n' >> " + (mount / "run.log").string()).exitCode, 0);
    // Rewriting it would make it a block blob: refused at close, the store's version kept.
    const auto rewrite = runCommand(
        {"/usr/bin/python3", "-c",
         "f = open('" + (mount / "run.log").string() + "', 'w'); f.write('x'); f.close()"});
    EXPECT_NE(rewrite.exitCode, 0) << rewrite.out << rewrite.err;
    EXPECT_NE(mount.log().find("which the mount only appends to"), std::string::npos)
        << mount.log();
  }
  const auto stat = skiff::testing::runSkiff({"blob", "stat", "--json", uri + "/run.log"}, env);
  EXPECT_EQ(nlohmann::json::parse(stat.out)["blobType"], "AppendBlob") << stat.out;
  EXPECT_EQ(skiff::testing::runSkiff({"blob", "cat", uri + "/run.log"}, env).out,
            "one\ntwo\nthree\n");
}

}  // namespace
}  // namespace skiff::blob::testing

namespace skiff::blob::testing {
namespace {

TEST(MountFaults, AStoppedStoreGivesEioWithinBoundedTimeAndTheMountRecovers) {
  auto azurite = Azurite::startPrivate();
  const std::string container = uniqueContainer("faults");
  auto credentials = azuriteCredentials();
  credentials.blobEndpoint = azurite->blobEndpoint();
  azure::AzureStore azureStore(Azurite::kAccount, container, credentials);
  BlobStore& store = azureStore;
  store.ensureContainer();
  const std::string data = randomBytes(48 << 20, 48);
  MemorySource source(data);
  store.put("big.bin", source);

  // A 16 MiB cache streams the 48 MiB file: reads go to the store as they come.
  Mount mount("az://" + std::string(Azurite::kAccount) + "/" + container, {"--cache-size", "16Mi"},
              azurite->connectionString());
  const int fd = ::open((mount / "big.bin").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::string buffer(1 << 20, '\0');
  ASSERT_EQ(::pread(fd, buffer.data(), buffer.size(), 0), static_cast<ssize_t>(buffer.size()));
  EXPECT_EQ(buffer, data.substr(0, buffer.size()));

  azurite->stop();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(::pread(fd, buffer.data(), buffer.size(), 40 << 20), -1);
  EXPECT_EQ(errno, EIO);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30))
      << "EIO within a bounded time, not a hang";

  azurite->restart();
  ASSERT_EQ(::pread(fd, buffer.data(), buffer.size(), 40 << 20),
            static_cast<ssize_t>(buffer.size()));
  EXPECT_EQ(buffer, data.substr(40 << 20, buffer.size())) << "works again once the store is back";
  ::close(fd);
}

// A write whose answer is lost (the connection breaks after the service
// applied it) is retried; the retry's failed condition is the first
// attempt's own success, not someone else's change: close succeeds and no
// conflict copy is made.
TEST(MountFaults, AWriteWhoseAnswerIsLostIsNotAConflict) {
  const std::string container = uniqueContainer("lost-answer");
  azure::AzureStore azureStore(Azurite::kAccount, container, azuriteCredentials());
  azureStore.ensureContainer();
  FaultProxy proxy(Azurite::shared().port());
  const std::string connection = fmt::format(
      "DefaultEndpointsProtocol=http;AccountName={};AccountKey={};"
      "BlobEndpoint=http://127.0.0.1:{}/{};",
      Azurite::kAccount, Azurite::kKey, proxy.port(), Azurite::kAccount);
  Mount mount("az://" + std::string(Azurite::kAccount) + "/" + container, {}, connection);
  for (const size_t size : {size_t{64} << 10, size_t{20} << 20}) {  // Put Blob, Put Block List
    const std::string file = fmt::format("lost-{}.bin", size);
    const std::string data = randomBytes(size, static_cast<unsigned>(size));
    const int fd = ::open((mount / file).c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    // The request that makes the blob (Put Blob, or Put Block List after the
    // blocks) applies, and its answer is lost.
    proxy.scriptMatching(size < (8u << 20) ? file + " HTTP" : "comp=blocklist",
                         {FaultProxy::Fault::kLostAnswer});
    EXPECT_EQ(::close(fd), 0) << std::strerror(errno) << "\n" << mount.log();
    EXPECT_TRUE(readBlob(azureStore, file) == data) << file;
  }
  EXPECT_GE(proxy.faultsInjected(), 2);
  EXPECT_FALSE(std::filesystem::exists(mount.cacheDir() / "conflicts")) << mount.log();
  // Both retries met their own landed write.
  const std::string log = mount.log();
  size_t landed = 0;
  for (size_t at = log.find("an earlier attempt of the write landed"); at != std::string::npos;
       at = log.find("an earlier attempt of the write landed", at + 1)) {
    ++landed;
  }
  EXPECT_EQ(landed, 2u) << log;
}

// A store that accepts connections and never answers (a stalling proxy in
// front of Azurite): every call gets EIO within the bounds of docs/mount.md
// (3 attempts of a 3 s stall timeout, which curl notices within a second of
// its checks, plus 1.2 s of backoff: 10-13.2 s; uploads up to about 30 s),
// and what a writer wrote stays pending and is uploaded once the store
// answers again.
// Before, reads took 91 s and a writer hung 225 s.
TEST(MountFaults, AStalledStoreGivesEioWithinTheDocumentedBound) {
  const std::string container = uniqueContainer("stall");
  azure::AzureStore azureStore(Azurite::kAccount, container, azuriteCredentials());
  BlobStore& store = azureStore;
  store.ensureContainer();
  FaultProxy proxy(Azurite::shared().port());
  const std::string proxied = fmt::format(
      "DefaultEndpointsProtocol=http;AccountName={};AccountKey={};BlobEndpoint=http://"
      "127.0.0.1:{}/{};",
      Azurite::kAccount, Azurite::kKey, proxy.port(), Azurite::kAccount);
  Mount mount("az://" + std::string(Azurite::kAccount) + "/" + container, {"--cache-timeout", "0"},
              proxied);
  ASSERT_TRUE(sh("echo before > " + (mount / "before.txt").string()).exitCode == 0);

  // A writer with data not uploaded yet when the store stalls.
  const int fd = ::open((mount / "written.txt").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  const std::string data = randomBytes(64 << 10, 7);
  ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));

  proxy.script({}, FaultProxy::Fault::kStall);
  // docs/mount.md, "Errors": metadata calls and data calls.
  constexpr auto kBound = std::chrono::milliseconds(14000);  // 13.2 s and scheduling
  constexpr auto kDataBound = std::chrono::seconds(32);
  const auto seconds = [](const std::function<void()>& call) {
    const auto start = std::chrono::steady_clock::now();
    call();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start);
  };
  struct stat st {};
  auto took = seconds([&] {
    EXPECT_EQ(::stat((mount / "unseen.txt").c_str(), &st), -1);
    EXPECT_EQ(errno, EIO);
  });
  EXPECT_LT(took, kBound) << "a lookup took " << took.count() << " s";
  std::cerr << "stalled store: lookup EIO after " << took.count() << " s\n";
  took = seconds([&] {
    EXPECT_EQ(::open((mount / "new.txt").c_str(), O_WRONLY | O_CREAT, 0644), -1);
    EXPECT_EQ(errno, EIO);
  });
  EXPECT_LT(took, kBound) << "a create took " << took.count() << " s";
  took = seconds([&] {
    EXPECT_EQ(::fsync(fd), -1);
    EXPECT_EQ(errno, EIO);
  });
  EXPECT_LT(took, kDataBound) << "fsync took " << took.count() << " s";
  std::cerr << "stalled store: fsync EIO after " << took.count() << " s\n";
  took = seconds([&] { ::close(fd); });
  EXPECT_LT(took, kDataBound) << "close took " << took.count() << " s";
  std::cerr << "stalled store: close returned after " << took.count() << " s\n";

  // Back to answering: the pending upload goes through by itself (every 15 s).
  proxy.script({}, FaultProxy::Fault::kNone);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!store.head("written.txt") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ASSERT_TRUE(store.head("written.txt").has_value()) << "the written data was lost";
  EXPECT_EQ(readBlob(store, "written.txt"), data);
}

}  // namespace
}  // namespace skiff::blob::testing

namespace skiff::blob::testing {
namespace {

TEST(MountConfig, OptionsComeFromAFileAndTheCommandLineWins) {
  TempDir store;
  TempDir config;
  const auto file =
      config.write("mount.conf", "# a mount's options\nread-only = true\nlog-level = debug\n");
  Mount mount("file://" + store.path().string(), {"--config", file.string()});
  EXPECT_EQ(::mkdir((mount / "x").c_str(), 0755), -1);
  EXPECT_EQ(errno, EROFS) << "read-only came from the file";
  const auto bad = config.write("bad.conf", "cache-timout = 3\n");
  const auto result = skiff::testing::runSkiff({"mount", "file://" + store.path().string(),
                                                config.path().string(), "--config", bad.string()});
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_NE(result.err.find(bad.string() + ":1: unknown option \"cache-timout\" (did you mean "
                                           "\"cache-timeout\"?)"),
            std::string::npos)
      << result.err;
}

}  // namespace
}  // namespace skiff::blob::testing
