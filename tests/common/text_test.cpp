#include "common/text.hpp"

#include <gtest/gtest.h>

#include <ctime>
#include <regex>

namespace skiff {
namespace {

TEST(EditDistance, CountsEdits) {
  EXPECT_EQ(editDistance("", ""), 0u);
  EXPECT_EQ(editDistance("command", "command"), 0u);
  EXPECT_EQ(editDistance("comand", "command"), 1u);
  EXPECT_EQ(editDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(editDistance("", "abc"), 3u);
}

TEST(ClosestMatch, SuggestsNearMissesOnly) {
  const std::vector<std::string> fields = {"command", "env", "mounts", "resources"};
  EXPECT_EQ(closestMatch("comand", fields), "command");
  EXPECT_EQ(closestMatch("mount", fields), "mounts");
  EXPECT_EQ(closestMatch("resorces", fields), "resources");
  EXPECT_FALSE(closestMatch("zzzzzzzz", fields).has_value());
  EXPECT_FALSE(closestMatch("x", {}).has_value());
}

TEST(JoinAlternatives, ReadsAsEnglish) {
  EXPECT_EQ(joinAlternatives({}), "");
  EXPECT_EQ(joinAlternatives({"a"}), "a");
  EXPECT_EQ(joinAlternatives({"a", "b"}), "a or b");
  EXPECT_EQ(joinAlternatives({"a", "b", "c"}), "a, b or c");
}

TEST(ParseDuration, AcceptsUnits) {
  EXPECT_DOUBLE_EQ(*parseDurationSeconds("120"), 120.0);
  EXPECT_DOUBLE_EQ(*parseDurationSeconds("30s"), 30.0);
  EXPECT_DOUBLE_EQ(*parseDurationSeconds("2m"), 120.0);
  EXPECT_DOUBLE_EQ(*parseDurationSeconds("1h"), 3600.0);
  EXPECT_DOUBLE_EQ(*parseDurationSeconds("250ms"), 0.25);
  EXPECT_DOUBLE_EQ(*parseDurationSeconds("1.5m"), 90.0);
  EXPECT_FALSE(parseDurationSeconds("").has_value());
  EXPECT_FALSE(parseDurationSeconds("soon").has_value());
  EXPECT_FALSE(parseDurationSeconds("5d").has_value());
  EXPECT_FALSE(parseDurationSeconds("-5").has_value());
}

// Converted to a clock's nanoseconds, these overflowed: a timer that fired
// at once, and `skiff serve --poll` spun on a core.
TEST(ParseDuration, RefusesWhatOverflowsAClock) {
  EXPECT_FALSE(parseDurationSeconds("99999999999999999999h").has_value());
  EXPECT_FALSE(parseDurationSeconds("1e400").has_value());
  EXPECT_FALSE(parseDurationSeconds("8761h").has_value());
  EXPECT_DOUBLE_EQ(*parseDurationSeconds("8760h"), kMaxDurationSeconds);
}

TEST(ParseByteSize, AcceptsSiAndBinaryUnits) {
  EXPECT_EQ(*parseByteSize("1024"), 1024u);
  EXPECT_EQ(*parseByteSize("4Ki"), 4096u);
  EXPECT_EQ(*parseByteSize("1Mi"), 1048576u);
  EXPECT_EQ(*parseByteSize("1G"), 1000000000u);
  EXPECT_EQ(*parseByteSize("1.5Gi"), 1610612736u);
  EXPECT_FALSE(parseByteSize("lots").has_value());
  EXPECT_FALSE(parseByteSize("1Qi").has_value());
}

TEST(UtcNow, FormatsTheTimeNowInUtc) {
  const std::string stamp = utcNow("%Y-%m-%dT%H:%M:%SZ");
  EXPECT_TRUE(std::regex_match(stamp, std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)")))
      << stamp;
  std::tm utc{};
  const std::time_t now = std::time(nullptr);
  ::gmtime_r(&now, &utc);
  EXPECT_EQ(utcNow("%Y"), std::to_string(1900 + utc.tm_year));
}

}  // namespace
}  // namespace skiff
