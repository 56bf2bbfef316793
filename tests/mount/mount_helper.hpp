#pragma once

// A real `skiff mount --foreground` of a store for tests, stopped with
// `skiff unmount`, or killed (kill -9) with its kernel mount cleaned up
// the way an operator would (umount -l).

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/statfs.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/subprocess.hpp"
#include "harness/services.hpp"
#include "harness/temp_dir.hpp"

namespace skiff::blob::testing {

constexpr long kFuseSuperMagic = 0x65735546;

inline bool isFuseMount(const std::filesystem::path& path) {
  struct statfs st {};
  return ::statfs(path.c_str(), &st) == 0 && st.f_type == kFuseSuperMagic;
}

inline std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

inline CommandResult sh(const std::string& command) {
  return runCommand({"sh", "-c", command});
}

// One mount of a store, started with `skiff mount --foreground` and stopped
// with `skiff unmount` (or kill()). Its cache is a directory of its own
// unless `cacheDir` names one (a remount that finds what a killed mount left).
class Mount {
 public:
  Mount(const std::string& uri, const std::vector<std::string>& extra = {},
        const std::string& connectionString = skiff::testing::Azurite::shared().connectionString(),
        std::filesystem::path cacheDir = {})
      : point_(work_ / "mnt"), cache_(cacheDir.empty() ? work_ / "cache" : std::move(cacheDir)) {
    std::filesystem::create_directories(point_);
    std::vector<std::string> argv = {skiff::testing::skiffBinary(),
                                     "mount",
                                     uri,
                                     point_.string(),
                                     "--foreground",
                                     "--cache-dir",
                                     cache_.string(),
                                     "--log-level",
                                     "debug"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    SpawnOptions options;
    options.extraEnv = {{"AZURE_STORAGE_CONNECTION_STRING", connectionString}};
    options.stdoutFile = work_ / "mount.out";
    options.stderrFile = options.stdoutFile;
    process_ = std::make_unique<Subprocess>(argv, options);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!isFuseMount(point_)) {
      if (!process_->running() || std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error("the mount did not come up: " + output());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  ~Mount() { unmount(); }

  void unmount() {
    if (!process_) return;
    const auto result = skiff::testing::runSkiff({"unmount", point_.string()});
    EXPECT_EQ(result.exitCode, 0) << result.err;
    const auto code = process_->wait(std::chrono::seconds(20));
    if (!code) {
      // Where it hangs, for the failure message.
      const auto stacks = runCommand(
          {"gdb", "-p", std::to_string(process_->pid()), "-batch", "-ex", "thread apply all bt"});
      ADD_FAILURE() << "skiff mount did not exit within 20 s of its unmount; its threads:\n"
                    << stacks.out << stacks.err << "\nthe end of its log:\n"
                    << logTail();
    }
    EXPECT_EQ(code.value_or(0), 0) << output() << "\nthe end of its log:\n" << logTail();
    process_.reset();
  }

  // kill -9 of the mount process, at whatever point it is; then the kernel
  // mount it leaves behind (every call on it fails with ENOTCONN) is
  // detached, as `umount -l` (or `fusermount3 -u -z`) does.
  void kill() {
    if (!process_) return;
    ::kill(process_->pid(), SIGKILL);
    process_->wait(std::chrono::seconds(20));
    process_.reset();
    if (::umount2(point_.c_str(), MNT_DETACH) != 0) {
      runCommand({"fusermount3", "-u", "-z", point_.string()});
    }
    EXPECT_FALSE(isFuseMount(point_)) << "the killed mount's kernel mount is still there";
  }

  const std::filesystem::path& path() const { return point_; }
  std::filesystem::path operator/(const std::string& name) const { return point_ / name; }
  std::string log() const { return readFile(cache_ / "mount.log"); }
  // The last lines of the log, for a failure message.
  std::string logTail(size_t lines = 80) const {
    const std::string text = log();
    size_t at = text.size();
    for (size_t seen = 0; at > 0 && seen <= lines; --at) {
      if (text[at - 1] == '\n') ++seen;
    }
    return text.substr(at);
  }
  // What the mount printed (its terminal: stdout and stderr).
  std::string output() const { return readFile(work_ / "mount.out"); }
  const std::filesystem::path& cacheDir() const { return cache_; }

 private:
  skiff::testing::TempDir work_{"skiff-mount"};
  std::filesystem::path point_;
  std::filesystem::path cache_;
  std::unique_ptr<Subprocess> process_;
};

}  // namespace skiff::blob::testing
