#include "deploy/local/gpus.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <regex>

#include "common/error.hpp"

namespace skiff::deploy::local {

namespace fs = std::filesystem;

GpuSettings gpuSettingsFromEnvironment() {
  GpuSettings settings;
  if (const char* dir = std::getenv("SKIFF_GPU_DEVICE_DIR"); dir && *dir) settings.deviceDir = dir;
  if (const char* dir = std::getenv("SKIFF_GPU_LOCK_DIR"); dir && *dir) settings.lockDir = dir;
  return settings;
}

std::vector<int> listGpus(const fs::path& deviceDir) {
  static const std::regex kGpuNode("nvidia([0-9]+)");
  std::vector<int> gpus;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(deviceDir, error)) {
    std::smatch match;
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, match, kGpuNode) && entry.is_character_file(error)) {
      gpus.push_back(std::stoi(match[1]));
    }
  }
  std::sort(gpus.begin(), gpus.end());
  return gpus;
}

std::optional<GpuLease> GpuLease::acquire(int count, const std::vector<int>& gpus,
                                          const fs::path& lockDir) {
  std::error_code error;
  fs::create_directories(lockDir, error);
  GpuLease lease;
  for (const int gpu : gpus) {
    if (static_cast<int>(lease.gpus_.size()) == count) break;
    const fs::path file = lockDir / std::to_string(gpu);
    const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      throw Error("cannot open the GPU lease file", file.string(),
                  "check that the directory is writable (SKIFF_GPU_LOCK_DIR)");
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);  // another run holds it
      continue;
    }
    lease.gpus_.push_back(gpu);
    lease.fds_.push_back(fd);
  }
  if (static_cast<int>(lease.gpus_.size()) < count) return std::nullopt;  // releases them
  return lease;
}

GpuLease::GpuLease(GpuLease&& other) noexcept
    : gpus_(std::move(other.gpus_)), fds_(std::move(other.fds_)) {
  other.fds_.clear();
}

GpuLease& GpuLease::operator=(GpuLease&& other) noexcept {
  if (this != &other) {
    release();
    gpus_ = std::move(other.gpus_);
    fds_ = std::move(other.fds_);
    other.fds_.clear();
  }
  return *this;
}

GpuLease::~GpuLease() {
  release();
}

void GpuLease::release() {
  for (const int fd : fds_) ::close(fd);  // closing drops the flock
  fds_.clear();
}

std::string GpuLease::visibleDevices() const {
  std::string list;
  for (const int gpu : gpus_) list += (list.empty() ? "" : ",") + std::to_string(gpu);
  return list;
}

std::vector<std::string> gpuSandboxArguments(const std::vector<int>& gpus,
                                             const fs::path& deviceDir) {
  std::vector<std::string> argv;
  const auto bind = [&](const std::string& name) {
    std::error_code error;
    if (fs::exists(deviceDir / name, error)) {
      argv.insert(argv.end(), {"--dev-bind", (deviceDir / name).string(), "/dev/" + name});
    }
  };
  for (const int gpu : gpus) bind("nvidia" + std::to_string(gpu));
  for (const char* control : {"nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset"}) {
    bind(control);
  }
  return argv;
}

}  // namespace skiff::deploy::local
