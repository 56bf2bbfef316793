#include "common/subprocess.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "common/error.hpp"

namespace skiff {
namespace {

TEST(RunCommand, CapturesOutputAndExitCode) {
  const auto result = runCommand({"sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(result.exitCode, 3);
  EXPECT_EQ(result.out, "out\n");
  EXPECT_EQ(result.err, "err\n");
}

TEST(RunCommand, FeedsStdinAndEnvironment) {
  SpawnOptions options;
  options.extraEnv["SKIFF_TEST_VALUE"] = "42";
  const auto result = runCommand({"sh", "-c", "cat; echo $SKIFF_TEST_VALUE"}, options, "in\n");
  EXPECT_EQ(result.exitCode, 0);
  EXPECT_EQ(result.out, "in\n42\n");
}

TEST(RunStreaming, HandsOverMergedLinesAsTheyCome) {
  std::vector<std::string> lines;
  const int code = runStreaming({"sh", "-c", "echo one; echo two >&2; printf 'no newline'; exit 4"},
                                {}, [&](std::string_view line) { lines.emplace_back(line); });
  EXPECT_EQ(code, 4);
  EXPECT_EQ(lines, (std::vector<std::string>{"one", "two", "no newline"}));
}

TEST(Subprocess, MissingProgramIsAClearError) {
  try {
    Subprocess process({"skiff-no-such-program"});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("skiff-no-such-program"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("No such file"), std::string::npos) << e.what();
  }
}

TEST(Subprocess, StopEndsAProcessThatIgnoresNothing) {
  Subprocess process({"sleep", "30"});
  EXPECT_TRUE(process.running());
  EXPECT_FALSE(process.wait(std::chrono::milliseconds(50)).has_value());
  const int code = process.stop(std::chrono::seconds(2));
  EXPECT_EQ(code, 128 + 15);  // SIGTERM
  EXPECT_FALSE(process.running());
}

TEST(Subprocess, StopKillsAProcessThatIgnoresTerm) {
  Subprocess process({"sh", "-c", "trap '' TERM; sleep 30"});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the trap be set
  const int code = process.stop(std::chrono::milliseconds(200));
  EXPECT_EQ(code, 128 + 9);  // SIGKILL
}

}  // namespace
}  // namespace skiff

namespace skiff {
namespace {

TEST(Subprocess, ChildrenDoNotInheritStrayDescriptors) {
  const int fd = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(fd, 3);
  const auto result = runCommand({"sh", "-c",
                                  "if [ -e /proc/self/fd/" + std::to_string(fd) +
                                      " ]; then echo leaked; else echo clean; fi"});
  ::close(fd);
  EXPECT_EQ(result.out, "clean\n");
}

}  // namespace
}  // namespace skiff
