#pragma once

// GPUs on the local target: which NVIDIA GPUs this machine has, leases that
// give a run N of them (machine-wide, so two projects never share one), and
// what a sandbox needs to use them.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace skiff::deploy::local {

// Where GPUs are found and leased. The defaults are the machine's; tests
// point them at device nodes they made (SKIFF_GPU_DEVICE_DIR, SKIFF_GPU_LOCK_DIR).
struct GpuSettings {
  std::string deviceDir = "/dev";
  std::string lockDir = "/run/skiff/gpus";
};
GpuSettings gpuSettingsFromEnvironment();

// The minor numbers of the GPUs: deviceDir/nvidiaN character devices, sorted.
std::vector<int> listGpus(const std::filesystem::path& deviceDir);

// N GPUs held for one process: a flock on lockDir/N per GPU, released when the
// lease ends or the holder dies (no stale leases after a crash).
class GpuLease {
 public:
  // Takes `count` free GPUs of `gpus`, or nothing when fewer are free now.
  static std::optional<GpuLease> acquire(int count, const std::vector<int>& gpus,
                                         const std::filesystem::path& lockDir);
  GpuLease(GpuLease&& other) noexcept;
  GpuLease& operator=(GpuLease&& other) noexcept;
  GpuLease(const GpuLease&) = delete;
  GpuLease& operator=(const GpuLease&) = delete;
  ~GpuLease();

  const std::vector<int>& gpus() const { return gpus_; }
  // "0,2": for CUDA_VISIBLE_DEVICES and NVIDIA_VISIBLE_DEVICES.
  std::string visibleDevices() const;

 private:
  GpuLease() = default;
  void release();
  std::vector<int> gpus_;
  std::vector<int> fds_;
};

// bubblewrap arguments that bring the leased GPUs and the driver's control
// devices (nvidiactl, nvidia-uvm, ...) into the sandbox's /dev. The driver's
// libraries need nothing: the sandbox sees the host's /usr and /lib read-only.
std::vector<std::string> gpuSandboxArguments(const std::vector<int>& gpus,
                                             const std::filesystem::path& deviceDir);

}  // namespace skiff::deploy::local
