// BlobFs on its own, over a file:// store: what its metadata caches keep
// over a long run.

#include "mount/blob_fs.hpp"

#include <gtest/gtest.h>

#include <string>

#include "blob/uri.hpp"
#include "harness/temp_dir.hpp"

namespace skiff::mount {
namespace {

std::unique_ptr<BlobFs> mountOf(const testing::TempDir& dir, double attrTimeoutSeconds) {
  std::filesystem::create_directories(dir.path() / "store");
  MountOptions options;
  options.uri = "file://" + (dir.path() / "store").string();
  options.cacheDir = (dir.path() / "cache").string();
  options.attrTimeoutSeconds = attrTimeoutSeconds;
  // No listings: each lookup is a name of its own (a listing answers
  // lookups of its children without keeping their names twice).
  options.listTimeoutSeconds = 0;
  return std::make_unique<BlobFs>(blob::openStore(blob::parseBlobUri(options.uri)), "", options);
}

void lookUpMissingNames(BlobFs& fs, int count) {
  Attributes attributes;
  for (int i = 0; i < count; ++i) {
    ASSERT_EQ(fs.getattr("/missing-" + std::to_string(i), attributes), -ENOENT);
  }
}

// A mount that looks up ever new names (a soak's writers, a job's temp
// files) keeps only the entries that have not expired.
TEST(BlobFsMetadata, ExpiredNamesAreDroppedNotKeptForever) {
  testing::TempDir dir;
  auto fs = mountOf(dir, 0);
  ASSERT_NO_FATAL_FAILURE(lookUpMissingNames(*fs, 20'000));
  EXPECT_LT(fs->cachedMetadataEntries(), 8'192u);
}

TEST(BlobFsMetadata, LiveNamesStayCached) {
  testing::TempDir dir;
  auto fs = mountOf(dir, 3600);
  ASSERT_NO_FATAL_FAILURE(lookUpMissingNames(*fs, 20'000));
  EXPECT_EQ(fs->cachedMetadataEntries(), 20'000u);
}

}  // namespace
}  // namespace skiff::mount
