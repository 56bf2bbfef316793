#include "csi/cgroups.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "common/error.hpp"
#include "common/files.hpp"

namespace skiff::csi {

namespace {

namespace fs = std::filesystem;

bool writeText(const fs::path& file, const std::string& text) {
  std::ofstream out(file);
  out << text << std::flush;
  return static_cast<bool>(out);
}

// The roots of the hierarchies under `root`: `root` itself on cgroup v2,
// each controller's directory on v1 (the cpu,cpuacct-style links skipped,
// as they name a hierarchy that is there under its own name too).
std::vector<fs::path> hierarchies(const fs::path& root) {
  if (fs::exists(root / "cgroup.procs")) return {root};
  std::vector<fs::path> found;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(root, error)) {
    if (entry.is_symlink() || !fs::exists(entry.path() / "cgroup.procs")) continue;
    found.push_back(entry.path());
  }
  return found;
}

}  // namespace

void moveToCgroup(pid_t pid, const fs::path& root, const std::string& name) {
  const auto found = hierarchies(root);
  if (found.empty()) {
    throw Error(
        "no cgroup hierarchy is mounted there", root.string(),
        "mount the host's /sys/fs/cgroup there (the DaemonSet of `skiff csi install` does)");
  }
  for (const auto& hierarchy : found) {
    const fs::path group = hierarchy / name;
    std::error_code error;
    fs::create_directory(group, error);
    // A new cpuset cgroup has no CPUs or memory nodes: it takes its parent's.
    for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
      if (fs::exists(group / file) && readTrimmedFile(group / file).empty()) {
        writeText(group / file, readTrimmedFile(hierarchy / file));
      }
    }
    if (!writeText(group / "cgroup.procs", std::to_string(pid))) {
      throw Error(
          fmt::format("cannot move process {} into this cgroup: {}", pid, std::strerror(errno)),
          group.string(), "run the node plugin privileged, as root");
    }
  }
}

}  // namespace skiff::csi
