#include "common/packed_names.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace skiff {
namespace {

PackedNames packed(const std::vector<std::string>& names) {
  PackedNames result;
  for (const auto& name : names) EXPECT_TRUE(result.append(name));
  return result;
}

std::vector<std::string> unpacked(const PackedNames& names) {
  std::vector<std::string> result;
  for (size_t at = 0; at < names.size(); ++at) result.emplace_back(names[at]);
  return result;
}

TEST(PackedNames, KeepsEachNameAsAdded) {
  const PackedNames names = packed({"b", "", "a/é", "b"});
  EXPECT_EQ(names.size(), 4u);
  EXPECT_EQ(unpacked(names), (std::vector<std::string>{"b", "", "a/é", "b"}));
}

TEST(PackedNames, SortsStablyAndPicksInOrder) {
  const PackedNames names = packed({"c", "a", "b", "a"});
  const auto order = names.sortedOrder();
  EXPECT_EQ(order, (std::vector<uint32_t>{1, 3, 2, 0}));
  const PackedNames sorted = names.picked(order);
  EXPECT_EQ(unpacked(sorted), (std::vector<std::string>{"a", "a", "b", "c"}));
  EXPECT_FALSE(sorted.sortedAndUnique());  // "a" twice
  EXPECT_TRUE(packed({"a", "b", "c"}).sortedAndUnique());
  EXPECT_FALSE(names.sortedAndUnique());
}

TEST(PackedNames, FindsBoundsInSortedNames) {
  const PackedNames names = packed({"a", "b/", "b/c", "d"});
  EXPECT_EQ(names.lowerBound(""), 0u);
  EXPECT_EQ(names.lowerBound("b/"), 1u);
  EXPECT_EQ(names.upperBound("b/"), 2u);
  EXPECT_EQ(names.lowerBound("c"), 3u);
  EXPECT_EQ(names.upperBound("c"), 3u);
  EXPECT_EQ(names.lowerBound("e"), 4u);
  EXPECT_EQ(names.upperBound("d"), 4u);
  EXPECT_EQ(PackedNames().lowerBound("x"), 0u);
}

TEST(PackedNames, RefusesToPassFourGibibytes) {
  PackedNames names;
  // One name of 4 GiB - 1 bytes would cost that much memory; a string_view
  // over a small buffer with a huge size is never read when refused.
  const std::string small = "abc";
  const std::string_view huge(small.data(), size_t{1} << 32);
  EXPECT_FALSE(names.append(huge));
  EXPECT_TRUE(names.empty());
  EXPECT_TRUE(names.append(small));
  EXPECT_EQ(names[0], "abc");
}

}  // namespace
}  // namespace skiff
