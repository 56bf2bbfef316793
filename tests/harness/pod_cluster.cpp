#include "harness/pod_cluster.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include "harness/services.hpp"

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

ClusterProject::ClusterProject(const std::string& purpose, const std::string& test,
                               const std::string& yaml)
    : ns_("skiff-" + purpose + "-" + test + "-" + std::to_string(::getpid())) {
  dir_.write("skiff.yaml", yaml);
  dir_.write("Dockerfile", "FROM busybox\n");
  const auto created = PodCluster::shared().kubectl({"create", "namespace", ns_});
  if (created.exitCode != 0) throw std::runtime_error("kubectl create namespace: " + created.err);
}

ClusterProject::~ClusterProject() {
  PodCluster::shared().kubectl({"delete", "namespace", ns_, "--wait=false"});
}

CommandResult ClusterProject::build() const {
  return runSkiff({"build", path().string()}, env());
}

CommandResult ClusterProject::skiff(std::vector<std::string> args,
                                    const std::map<std::string, std::string>& extraEnv) const {
  args.insert(args.end(), {"--target", "k8s", "--namespace", ns_, path().string()});
  auto environment = env();
  environment.insert(extraEnv.begin(), extraEnv.end());
  return runSkiff(args, environment);
}

CommandResult ClusterProject::release(const std::string& timeout) const {
  return skiff({"release", "--wait", "--timeout", timeout});
}

std::string ClusterProject::releaseFails(const std::string& timeout) const {
  const auto released = release(timeout);
  const std::string out = released.out + released.err;
  std::cout << out;
  EXPECT_EQ(released.exitCode, 1) << out << cluster();
  return out;
}

std::string ClusterProject::cluster() const {
  const auto pods = PodCluster::shared().kubectl({"-n", ns_, "get", "pods,jobs", "-o", "wide"});
  const auto events = PodCluster::shared().kubectl({"-n", ns_, "get", "events"});
  return "\n--- cluster:\n" + pods.out + pods.err + events.out;
}

size_t ClusterProject::pods(const std::string& entry) const {
  const auto listed = PodCluster::shared().kubectl(
      {"-n", ns_, "get", "pods", "-l", "skiff.dev/entry=" + entry, "-o", "name"});
  return static_cast<size_t>(std::count(listed.out.begin(), listed.out.end(), '\n'));
}

}  // namespace skiff::testing
