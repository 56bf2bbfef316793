// BlobStore behaviour, the same for file:// and Azure Blob (a live Azurite).

#include <gtest/gtest.h>

#include <thread>

#include "blob/errors.hpp"
#include "blob/sources.hpp"
#include "blob_fixture.hpp"
#include "common/parallel.hpp"

namespace skiff::blob::testing {
namespace {

class BlobStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    azure::TransferOptions options;
    options.blockSize = 1 << 20;  // small blocks: multi-block paths run on small data
    options.concurrency = 4;
    subject_ = makeStore(GetParam(), options);
  }
  BlobStore& store() { return *subject_.store; }
  std::string name(const std::string& relative) { return subject_.root + relative; }

  BlobProperties putString(const std::string& blob, const std::string& data,
                           PutOptions options = {}) {
    MemorySource source(data);
    return store().put(name(blob), source, options);
  }

  StoreUnderTest subject_;
};

TEST_P(BlobStoreTest, RoundTripsOfEdgeSizesKeepEveryByte) {
  // 0 B, 1 B, one block exactly, and 4 MiB + 1 (several blocks, a 1-byte tail).
  for (const size_t size : {size_t{0}, size_t{1}, size_t{1} << 20, (size_t{4} << 20) + 1}) {
    SCOPED_TRACE(size);
    const std::string data = randomBytes(size, size);
    const auto written = putString("sizes/blob", data);
    EXPECT_EQ(written.size, size);
    EXPECT_FALSE(written.etag.empty());
    const std::string back = readBlob(store(), name("sizes/blob"));
    EXPECT_EQ(back.size(), size);
    EXPECT_EQ(sha256(back), sha256(data));
    const auto properties = store().head(name("sizes/blob"));
    ASSERT_TRUE(properties);
    EXPECT_EQ(properties->size, size);
    EXPECT_EQ(properties->etag, written.etag);
  }
}

TEST_P(BlobStoreTest, StreamsOfUnknownLengthUploadInBlocks) {
  const std::string data = randomBytes((3 << 20) + 12345, 7);
  int pipeFds[2];
  ASSERT_EQ(::pipe(pipeFds), 0);
  std::thread writer([&] {
    size_t offset = 0;
    while (offset < data.size()) {
      const ssize_t written =
          ::write(pipeFds[1], data.data() + offset, std::min<size_t>(65536, data.size() - offset));
      if (written <= 0) break;
      offset += static_cast<size_t>(written);
    }
    ::close(pipeFds[1]);
  });
  FdSource source(pipeFds[0]);
  uint64_t lastProgress = 0;
  const auto written =
      store().put(name("stream.bin"), source, {}, [&](uint64_t done) { lastProgress = done; });
  writer.join();
  ::close(pipeFds[0]);
  EXPECT_EQ(written.size, data.size());
  EXPECT_EQ(lastProgress, data.size());
  EXPECT_EQ(sha256(readBlob(store(), name("stream.bin"))), sha256(data));
}

TEST_P(BlobStoreTest, NamesWithSpacesUnicodeAndSpecialCharacters) {
  const std::vector<std::string> names = {
      "with space.txt", "ünïcödé/ファイル.txt",          "hash#tag",       "question?mark",
      "per%cent%20",    "deep/a/b/c/d/e/f/g/h/i/j/leaf", "plus+and&amp=eq"};
  for (const auto& blob : names) {
    SCOPED_TRACE(blob);
    putString(blob, "content of " + blob);
    EXPECT_EQ(readBlob(store(), name(blob)), "content of " + blob);
  }
  std::vector<std::string> listed;
  for (const auto& properties : listAll(store(), subject_.root)) {
    listed.push_back(properties.name.substr(subject_.root.size()));
  }
  std::vector<std::string> expected = names;
  std::sort(expected.begin(), expected.end());
  std::sort(listed.begin(), listed.end());
  EXPECT_EQ(listed, expected);
}

TEST_P(BlobStoreTest, RangedReadsAtTheEdges) {
  const std::string data = randomBytes((2 << 20) + 100, 3);
  putString("ranges.bin", data);
  const std::string blob = name("ranges.bin");
  EXPECT_EQ(readBlob(store(), blob, {0, 1}), data.substr(0, 1));
  EXPECT_EQ(readBlob(store(), blob, {data.size() - 1, 1}), data.substr(data.size() - 1));
  EXPECT_EQ(readBlob(store(), blob, {data.size() - 1, std::nullopt}), data.substr(data.size() - 1));
  EXPECT_EQ(readBlob(store(), blob, {100, 10}), data.substr(100, 10));
  // Across block boundaries, and a length running past the end is cut at the end.
  EXPECT_EQ(readBlob(store(), blob, {(1 << 20) - 5, (1 << 20) + 10}),
            data.substr((1 << 20) - 5, (1 << 20) + 10));
  EXPECT_EQ(readBlob(store(), blob, {data.size() - 10, 1000}), data.substr(data.size() - 10));
  EXPECT_EQ(readBlob(store(), blob, {data.size(), std::nullopt}), "");
  try {
    readBlob(store(), blob, {data.size() + 1, std::nullopt});
    FAIL() << "a range past the end must fail";
  } catch (const BlobError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalid) << e.what();
    EXPECT_NE(std::string(e.what()).find("past the end"), std::string::npos) << e.what();
  }
}

TEST_P(BlobStoreTest, MissingBlobs) {
  EXPECT_FALSE(store().head(name("nothing-here")));
  try {
    readBlob(store(), name("nothing-here"));
    FAIL();
  } catch (const BlobError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(std::string(e.what()).find(store().uriOf(name("nothing-here"))), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(store().remove(name("nothing-here")), BlobError);
}

TEST_P(BlobStoreTest, ConditionalPutsDetectConcurrentChanges) {
  const auto first = putString("shared.txt", "version 1");
  // Someone else replaces it.
  const auto second = putString("shared.txt", "version 2 by someone else");
  EXPECT_NE(first.etag, second.etag);
  PutOptions options;
  options.conditions.ifMatch = first.etag;
  try {
    putString("shared.txt", "version 3 from a stale read", options);
    FAIL() << "a stale If-Match must fail";
  } catch (const BlobError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kConditionFailed);
    EXPECT_NE(std::string(e.what()).find("changed by someone else"), std::string::npos) << e.what();
  }
  EXPECT_EQ(readBlob(store(), name("shared.txt")), "version 2 by someone else") << "nothing lost";
  options.conditions.ifMatch = second.etag;
  putString("shared.txt", "version 3", options);
  EXPECT_EQ(readBlob(store(), name("shared.txt")), "version 3");

  PutOptions createOnly;
  createOnly.conditions.ifNoneMatch = "*";
  EXPECT_THROW(putString("shared.txt", "clobber", createOnly), BlobError);
  putString("fresh.txt", "new", createOnly);
  EXPECT_EQ(readBlob(store(), name("fresh.txt")), "new");
}

TEST_P(BlobStoreTest, ConditionalMultiBlockPutLeavesTheOldBlobWhole) {
  const auto original = putString("big.bin", randomBytes(100, 1));
  putString("big.bin", randomBytes(200, 2));
  PutOptions stale;
  stale.conditions.ifMatch = original.etag;
  EXPECT_THROW(putString("big.bin", randomBytes(3 << 20, 3), stale), BlobError);
  EXPECT_EQ(readBlob(store(), name("big.bin")), randomBytes(200, 2));
}

TEST_P(BlobStoreTest, MetadataAndContentTypeTravelWithTheBlob) {
  PutOptions options;
  options.metadata = {{"purpose", "test"}, {"owner", "skiff"}};
  options.contentType = "text/plain";
  putString("with-metadata", "", options);
  const auto properties = store().head(name("with-metadata"));
  ASSERT_TRUE(properties);
  EXPECT_EQ(properties->metadata, options.metadata);
  EXPECT_EQ(properties->contentType, "text/plain");
  ListOptions list;
  list.prefix = name("with-metadata");
  list.withMetadata = true;
  const auto page = store().list(list);
  ASSERT_EQ(page.blobs.size(), 1u);
  EXPECT_EQ(page.blobs[0].metadata.at("purpose"), "test");
}

TEST_P(BlobStoreTest, DirectoryMarkersReadBackAndRemove) {
  PutOptions marker;
  marker.metadata = {{kDirectoryMarkerKey, "true"}};
  putString("empty-dir", "", marker);
  const auto properties = store().head(name("empty-dir"));
  ASSERT_TRUE(properties);
  EXPECT_TRUE(isDirectoryMarker(properties->metadata));
  EXPECT_EQ(properties->size, 0u);
  store().remove(name("empty-dir"));
  EXPECT_FALSE(store().head(name("empty-dir")));
}

TEST_P(BlobStoreTest, DelimiterListingGivesDirectories) {
  for (const char* blob : {"tree/a.txt", "tree/b/c.txt", "tree/b/d/e.txt", "tree/f/g.txt"}) {
    putString(blob, "x");
  }
  ListOptions options;
  options.prefix = name("tree/");
  options.delimiter = "/";
  const auto page = store().list(options);
  ASSERT_EQ(page.blobs.size(), 1u);
  EXPECT_EQ(page.blobs[0].name, name("tree/a.txt"));
  EXPECT_EQ(page.prefixes, (std::vector<std::string>{name("tree/b/"), name("tree/f/")}));
  EXPECT_TRUE(page.nextMarker.empty());
  EXPECT_EQ(listAll(store(), name("tree/b/")).size(), 2u);
}

TEST_P(BlobStoreTest, ListingFiveThousandBlobsAcrossPages) {
  constexpr int kCount = 5000;
  {
    BoundedExecutor executor(16, 64);
    for (int i = 0; i < kCount; ++i) {
      executor.submit([&, i] { putString(fmt::format("many/{:05d}", i), std::to_string(i)); });
    }
    executor.finish();
  }
  ListOptions options;
  options.prefix = name("many/");
  options.maxResults = 1000;
  std::vector<std::string> names;
  int pages = 0;
  do {
    const ListPage page = store().list(options);
    EXPECT_LE(page.blobs.size(), 1000u);
    for (const auto& blob : page.blobs) names.push_back(blob.name);
    options.marker = page.nextMarker;
    ++pages;
  } while (!options.marker.empty());
  EXPECT_GE(pages, 5);
  ASSERT_EQ(names.size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; ++i) ASSERT_EQ(names[i], name(fmt::format("many/{:05d}", i)));
}

TEST_P(BlobStoreTest, CopyAndRemove) {
  PutOptions options;
  options.metadata = {{"k", "v"}};
  putString("orig.txt", "copy me", options);
  const auto copied = store().copy(name("orig.txt"), name("copies/dup.txt"));
  EXPECT_EQ(copied.size, 7u);
  EXPECT_EQ(readBlob(store(), name("copies/dup.txt")), "copy me");
  EXPECT_EQ(store().head(name("copies/dup.txt"))->metadata.at("k"), "v");
  Conditions stale;
  stale.ifMatch = "\"not-the-etag\"";
  EXPECT_THROW(store().remove(name("orig.txt"), stale), BlobError);
  EXPECT_TRUE(store().head(name("orig.txt")));
  store().remove(name("orig.txt"));
  EXPECT_FALSE(store().head(name("orig.txt")));
}

TEST_P(BlobStoreTest, ThreeHundredMebibytesRoundTrip) {
  const std::string data = randomBytes(300u << 20, 300);
  const auto written = putString("large/300mib.bin", data);
  EXPECT_EQ(written.size, data.size());
  std::string back;
  back.reserve(data.size());
  uint64_t progress = 0;
  store().get(
      name("large/300mib.bin"), [&](const char* bytes, size_t size) { back.append(bytes, size); },
      {}, {}, [&](uint64_t done) { progress = done; });
  EXPECT_EQ(progress, data.size());
  EXPECT_EQ(sha256(back), sha256(data));
}

std::string storeName(const ::testing::TestParamInfo<std::string>& param) {
  return param.param;
}
INSTANTIATE_TEST_SUITE_P(Stores, BlobStoreTest, ::testing::Values("file", "azure"), storeName);

TEST(FileStore, ReplacesAtomicallyAndHidesTempFiles) {
  skiff::testing::TempDir dir;
  FileStore fileStore;
  BlobStore& store = fileStore;
  const std::string name = dir.path().string().substr(1) + "/atomic.txt";
  MemorySource first("first");
  store.put(name, first);
  // A temp file left by a killed writer is not a blob.
  dir.write(".skiff-tmp-0123456789abcdef", "partial");
  ListOptions options;
  options.prefix = dir.path().string().substr(1) + "/";
  const auto page = store.list(options);
  ASSERT_EQ(page.blobs.size(), 1u);
  EXPECT_EQ(page.blobs[0].name, name);
}

TEST(FileStore, RejectsDotSegments) {
  FileStore fileStore;
  BlobStore& store = fileStore;
  MemorySource data("x");
  EXPECT_THROW(store.put("tmp/../etc/passwd", data), BlobError);
  EXPECT_THROW(store.put("tmp/dir/", data), BlobError);
}

TEST(AzureStore, WrongKeyIsAClearAuthError) {
  auto credentials = azuriteCredentials();
  credentials.key = "d3Jvbmcga2V5IHdyb25nIGtleSB3cm9uZyBrZXk=";
  azure::AzureStore store(skiff::testing::Azurite::kAccount, "anything", credentials);
  try {
    store.ensureContainer();
    FAIL() << "a wrong key must be refused";
  } catch (const BlobError& e) {
    const std::string message = e.what();
    EXPECT_EQ(e.kind(), ErrorKind::kAuth) << message;
    EXPECT_EQ(e.httpStatus(), 403) << message;
    EXPECT_NE(message.find("refused the credentials"), std::string::npos) << message;
    EXPECT_NE(message.find("request id"), std::string::npos) << message;
    EXPECT_EQ(message.find(credentials.key), std::string::npos) << "never the key";
  }
}

}  // namespace
}  // namespace skiff::blob::testing
