// The mount's whole-file cache on its own: LRU eviction under the size limit,
// no descriptors held by released entries, deletion of entries dropped while open.

#include "mount/file_cache.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "harness/temp_dir.hpp"

namespace skiff::mount {
namespace {

constexpr uint64_t kLimit = 1 << 20;

std::shared_ptr<CachedFile> cached(FileCache& cache, const std::string& name, size_t bytes) {
  auto file = cache.acquire(name);
  const std::string data(bytes, 'x');
  EXPECT_EQ(::pwrite(file->fd, data.data(), data.size(), 0), static_cast<ssize_t>(bytes));
  return file;
}

TEST(FileCache, EvictsTheLeastRecentlyUsedBeyondTheLimit) {
  testing::TempDir dir;
  FileCache cache(dir.path(), kLimit);
  auto first = cached(cache, "a", 400 << 10);
  const auto firstLocal = first->local;
  cache.release(first);
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  auto second = cached(cache, "b", 400 << 10);
  cache.release(second);
  EXPECT_TRUE(std::filesystem::exists(firstLocal));  // 800 KiB fit
  auto third = cached(cache, "c", 400 << 10);
  cache.release(third);
  EXPECT_FALSE(std::filesystem::exists(firstLocal)) << "the oldest entry stays past the limit";
  EXPECT_TRUE(std::filesystem::exists(second->local));
  EXPECT_TRUE(std::filesystem::exists(third->local));
}

TEST(FileCache, NeverEvictsAnOpenEntry) {
  testing::TempDir dir;
  FileCache cache(dir.path(), kLimit);
  auto held = cached(cache, "held", 600 << 10);
  auto other = cached(cache, "other", 600 << 10);
  cache.release(other);  // over the limit: only "other" may go
  EXPECT_TRUE(std::filesystem::exists(held->local));
  EXPECT_GE(held->fd, 0);
  cache.release(held);
}

TEST(FileCache, ReleasedEntriesHoldNoDescriptorAndKeepTheirContent) {
  testing::TempDir dir;
  FileCache cache(dir.path(), kLimit);
  auto file = cached(cache, "kept", 1000);
  cache.release(file);
  EXPECT_EQ(file->fd, -1);
  auto again = cache.acquire("kept");
  ASSERT_EQ(again.get(), file.get());
  ASSERT_GE(again->fd, 0);
  char byte = 0;
  EXPECT_EQ(::pread(again->fd, &byte, 1, 999), 1);
  EXPECT_EQ(byte, 'x');
  cache.release(again);
}

TEST(FileCache, ALocalFileDeletedBehindTheCacheIsStartedAgain) {
  testing::TempDir dir;
  FileCache cache(dir.path(), kLimit);
  auto file = cached(cache, "cleaned", 1000);
  file->present = true;
  cache.release(file);
  std::filesystem::remove(file->local);
  auto again = cache.acquire("cleaned");
  ASSERT_GE(again->fd, 0);
  EXPECT_FALSE(again->present) << "the next fetch must download it again";
  EXPECT_TRUE(std::filesystem::exists(again->local));
  cache.release(again);
}

TEST(FileCache, AnEntryForgottenWhileOpenIsDeletedAtItsLastRelease) {
  testing::TempDir dir;
  FileCache cache(dir.path(), kLimit);
  auto file = cached(cache, "gone", 1000);
  cache.forget("gone");
  EXPECT_TRUE(std::filesystem::exists(file->local));  // still readable by its holder
  cache.release(file);
  EXPECT_FALSE(std::filesystem::exists(file->local));
  auto fresh = cache.acquire("gone");
  EXPECT_NE(fresh->local, file->local);
  cache.release(fresh);
}

}  // namespace
}  // namespace skiff::mount
