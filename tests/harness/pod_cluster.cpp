#include "harness/pod_cluster.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <stdexcept>

namespace skiff::testing {

namespace fs = std::filesystem;

namespace {

const std::string kScript = SKIFF_SOURCE_DIR "/scripts/kube-cluster";

std::map<std::string, std::string> readSettings(const fs::path& file) {
  std::map<std::string, std::string> settings;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    const auto equals = line.find('=');
    if (line.empty() || line[0] == '#' || equals == std::string::npos) continue;
    settings[line.substr(0, equals)] = line.substr(equals + 1);
  }
  return settings;
}

}  // namespace

PodCluster& PodCluster::shared() {
  static PodCluster cluster;
  return cluster;
}

PodCluster::PodCluster() {
  if (const char* existing = std::getenv("SKIFF_POD_CLUSTER"); existing && *existing) {
    own_ = false;
    dir_ = existing;
    settings_ = readSettings(dir_ / "cluster.env");
    if (settings_.empty()) {
      throw std::runtime_error(fmt::format(
          "SKIFF_POD_CLUSTER={}: no cluster.env there (scripts/kube-cluster up --dir DIR)",
          existing));
    }
    return;
  }
  dir_ = scratch_.path();
  lock_ = ::open("/tmp/skiff-pod-cluster.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_ < 0 || ::flock(lock_, LOCK_EX) != 0) {
    throw std::runtime_error("cannot lock /tmp/skiff-pod-cluster.lock");
  }
  const auto start = std::chrono::steady_clock::now();
  // The first up on a machine builds the Kubernetes binaries and the base
  // images (minutes, cached outside the repository); later ones take seconds.
  const auto result = runCommand({kScript, "up", "--dir", dir_.string()});
  startSeconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (result.exitCode != 0) {
    runCommand({kScript, "down", "--dir", dir_.string()});
    throw std::runtime_error("scripts/kube-cluster up failed:\n" + result.err);
  }
  settings_ = readSettings(dir_ / "cluster.env");
  fmt::print("pod cluster up in {:.1f} s ({})\n", startSeconds_, dir_.string());
}

PodCluster::~PodCluster() {
  if (own_) {
    const auto result = runCommand({kScript, "down", "--dir", dir_.string()});
    if (result.exitCode != 0) fmt::print(stderr, "scripts/kube-cluster down: {}\n", result.err);
  }
  if (lock_ >= 0) ::close(lock_);
}

std::map<std::string, std::string> PodCluster::env() const {
  return {{"KUBECONFIG", kubeconfig().string()},
          {"CONTAINERS_REGISTRIES_CONF", settings_.at("CONTAINERS_REGISTRIES_CONF")}};
}

CommandResult PodCluster::kubectl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {settings_.at("KUBECTL"), "--kubeconfig", kubeconfig().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv);
}

std::string PodCluster::log(const std::string& process) const {
  std::ifstream in(dir_ / "logs" / (process + ".log"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  constexpr size_t kTail = 8000;
  return text.size() > kTail ? text.substr(text.size() - kTail) : text;
}

}  // namespace skiff::testing
