// skiff's CSI driver on the one-node cluster (PodCluster), against Azurite:
// `skiff csi install` builds skiff's image and runs the node plugin's
// DaemonSet; a project whose storage is az:// (driver: skiff, the default)
// reads a data set and writes a result through it; kill -9 of the plugin in
// the middle of the job's reads changes nothing the job sees; the pod's end
// leaves no mount, process or cache behind; a volume without credentials
// fails the pod's start with an event naming the problem.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "harness/pod_cluster.hpp"
#include "harness/services.hpp"
#include "harness/temp_dir.hpp"

namespace skiff::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

std::map<std::string, std::string> storeEnv() {
  return {{"AZURE_STORAGE_CONNECTION_STRING", Azurite::shared().connectionString()}};
}

fs::path clusterDir() {
  return PodCluster::shared().kubeconfig().parent_path();
}
fs::path kubeletDir() {
  return clusterDir() / "kubelet";
}

// PIDs of the processes whose command line holds `part` (pgrep -f).
std::vector<int> processesWith(const std::string& part) {
  std::vector<int> pids;
  std::istringstream lines(runCommand({"pgrep", "-f", "--", part}).out);
  for (std::string line; std::getline(lines, line);) pids.push_back(std::stoi(line));
  return pids;
}

// Whether kubelet (and so the pods it starts) sees a skiff FUSE mount.
bool kubeletSeesASkiffMount() {
  const auto kubelet = processesWith(kubeletDir().string() + "/config.yaml");
  if (kubelet.empty()) throw std::runtime_error("kubelet is not running");
  std::ifstream in("/proc/" + std::to_string(kubelet.front()) + "/mountinfo");
  const std::string table((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return contains(table, "fuse.skiff");
}

json pluginPod() {
  const auto listed =
      PodCluster::shared().kubectl({"-n", "kube-system", "get", "pods", "-l",
                                    "app.kubernetes.io/name=skiff-csi-node", "-o", "json"});
  const auto items =
      json::parse(listed.out.empty() ? "{}" : listed.out).value("items", json::array());
  return items.empty() ? json::object() : items.front();
}

// The driver, installed once for this binary's tests: skiff's own image
// built and pushed to the cluster's registry, the DaemonSet registered.
void installDriver() {
  static const CommandResult installed =
      runSkiff({"csi", "install", "--target", "k8s", "--push", "localhost:5000/skiff",
                "--kubelet-dir", kubeletDir().string(), "--timeout", "240"},
               PodCluster::shared().env());
  ASSERT_EQ(installed.exitCode, 0)
      << installed.out << installed.err << PodCluster::shared().log("kubelet");
  EXPECT_TRUE(contains(installed.out, "csi.skiff.dev is installed")) << installed.out;
}

// A random file of `size` bytes, and its md5sum as busybox prints it.
std::string writeRandomFile(const fs::path& path, size_t size) {
  std::mt19937_64 random(27);
  std::string bytes(size, '\0');
  for (auto& byte : bytes) byte = static_cast<char>(random());
  std::ofstream(path, std::ios::binary) << bytes;
  return runCommand({"md5sum", path.string()}).out.substr(0, 32);
}

std::string uniqueContainer(const std::string& purpose) {
  return "csi-" + purpose + "-" + std::to_string(::getpid());
}

TEST(CsiDriverOnTheCluster, AJobReadsAndWritesAzureBlobsThroughSkiffsMountAcrossAPluginKill) {
  ASSERT_NO_FATAL_FAILURE(installDriver());
  TempDir scratch("skiff-csi-data");
  const std::string data = uniqueContainer("data"), out = uniqueContainer("out");
  const std::string sum = writeRandomFile(scratch / "big.bin", 48 << 20);
  const std::string dataUri = "az://" + std::string(Azurite::kAccount) + "/" + data;
  const std::string outUri = "az://" + std::string(Azurite::kAccount) + "/" + out;
  auto seeded = runSkiff({"blob", "cp", (scratch / "big.bin").string(), dataUri + "/set/big.bin"},
                         storeEnv());
  ASSERT_EQ(seeded.exitCode, 0) << seeded.err;
  // A mount needs its container: the one for results is made empty first.
  ASSERT_EQ(runSkiff({"blob", "cp", "-", outUri + "/started"}, storeEnv(), "").exitCode, 0);

  // 40 reads of 48 MiB, half a second apart: the plugin dies and comes back
  // while they run. Every sum must be the file's.
  ClusterProject project("csi", "rw", R"(name: csi
image:
  repository: localhost:5000/skiff-test-csi
secrets:
  store: {fromEnv: [AZURE_STORAGE_CONNECTION_STRING]}
storage:
  data: {uri: )" + dataUri + R"(/set, mountPath: /data, readOnly: true, secret: store}
  out: {uri: )" + outUri + R"(, mountPath: /out, cacheTimeout: 0s, secret: store}
jobs:
  read:
    command: [sh, -c, 'for i in $(seq 40); do md5sum /data/big.bin || exit 3; sleep 0.5; done; ls /data > /out/listing.txt && md5sum /data/big.bin > /out/sum.txt && echo wrote']
    mounts: [data, out]
    backoffLimit: 0
)");
  const auto build = project.build();
  ASSERT_EQ(build.exitCode, 0) << build.err;
  const auto release = project.skiff({"release"}, storeEnv());
  ASSERT_EQ(release.exitCode, 0) << release.out << release.err;
  const auto rendered = runSkiff({"render", project.path().string()}, storeEnv());
  EXPECT_TRUE(contains(rendered.out, "driver: csi.skiff.dev")) << rendered.out;

  // Once the job has read the file a few times, kill -9 the plugin.
  const auto logs = [&] {
    return PodCluster::shared()
        .kubectl({"-n", project.ns(), "logs", "-l", "skiff.dev/entry=jobs.read", "--tail", "-1"})
        .out;
  };
  ASSERT_TRUE(waitFor(
      [&] {
        const std::string text = logs();
        return std::count(text.begin(), text.end(), '\n') >= 3;
      },
      std::chrono::seconds(180)))
      << logs() << project.cluster();
  EXPECT_TRUE(kubeletSeesASkiffMount());
  const auto mountsBefore = processesWith(dataUri);
  ASSERT_EQ(mountsBefore.size(), 1u) << "one skiff mount serves the data volume";
  const int restartsBefore = pluginPod()["status"]["containerStatuses"][0].value("restartCount", 0);
  const auto plugins = processesWith("skiff csi node");
  ASSERT_EQ(plugins.size(), 1u);
  ASSERT_EQ(::kill(plugins.front(), SIGKILL), 0);
  ASSERT_TRUE(waitFor(
      [&] {
        const json pod = pluginPod();
        const json status = pod["status"].value("containerStatuses", json::array());
        return !status.empty() && status[0].value("restartCount", 0) > restartsBefore &&
               status[0].value("ready", false);
      },
      std::chrono::seconds(120)))
      << pluginPod().dump(2);
  EXPECT_EQ(processesWith(dataUri), mountsBefore) << "the mount did not outlive the plugin";

  const auto done = PodCluster::shared().kubectl(
      {"-n", project.ns(), "wait", "--for=condition=complete", "--timeout=240s", "job/csi-read"});
  const std::string log = logs();
  ASSERT_EQ(done.exitCode, 0) << done.err << log << project.cluster();
  std::istringstream lines(log);
  int sums = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line == "wrote") continue;
    EXPECT_EQ(line, sum + "  /data/big.bin") << "a read through the mount went wrong";
    ++sums;
  }
  EXPECT_EQ(sums, 40) << log;

  // What the job wrote is in the store; once its pod is gone, so is every
  // trace of its volumes on the node.
  EXPECT_EQ(trimmed(runSkiff({"blob", "cat", outUri + "/sum.txt"}, storeEnv()).out),
            sum + "  /data/big.bin");
  EXPECT_EQ(trimmed(runSkiff({"blob", "cat", outUri + "/listing.txt"}, storeEnv()).out), "big.bin");
  PodCluster::shared().kubectl({"-n", project.ns(), "delete", "job", "csi-read", "--wait=true"});
  EXPECT_TRUE(waitFor([] { return !kubeletSeesASkiffMount(); }, std::chrono::seconds(60)))
      << "a volume is still mounted after its pod went";
  EXPECT_TRUE(
      waitFor([&] { return processesWith(dataUri).empty() && processesWith(outUri).empty(); },
              std::chrono::seconds(30)))
      << "a skiff mount process outlived its volume";
  const fs::path volumes = kubeletDir() / "plugins/csi.skiff.dev/state/volumes";
  EXPECT_TRUE(fs::is_directory(volumes));
  EXPECT_TRUE(fs::is_empty(volumes)) << "a volume's cache or state stayed on the node";
}

TEST(CsiDriverOnTheCluster, AVolumeWithoutCredentialsFailsThePodsStartWithAnEventSayingWhy) {
  ASSERT_NO_FATAL_FAILURE(installDriver());
  ClusterProject project("csi", "nocreds", R"(name: nocreds
image:
  repository: localhost:5000/skiff-test-csi
storage:
  data: {uri: az://devstoreaccount1/nothing, mountPath: /data, readOnly: true}
jobs:
  read:
    command: [ls, /data]
    mounts: [data]
)");
  const auto build = project.build();
  ASSERT_EQ(build.exitCode, 0) << build.err;
  ASSERT_EQ(project.skiff({"release"}).exitCode, 0);
  std::string events;
  const bool said = waitFor(
      [&] {
        events = PodCluster::shared()
                     .kubectl({"-n", project.ns(), "get", "events", "--field-selector",
                               "reason=FailedMount", "-o", "jsonpath={.items[*].message}"})
                     .out;
        return contains(events, "no credentials for az://devstoreaccount1/nothing");
      },
      std::chrono::seconds(120));
  EXPECT_TRUE(said) << events << project.cluster();
  EXPECT_TRUE(contains(events, "nodePublishSecretRef")) << events;
}

}  // namespace
}  // namespace skiff::testing
