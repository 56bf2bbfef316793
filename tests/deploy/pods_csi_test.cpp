// skiff's CSI driver on the one-node cluster (PodCluster), against Azurite:
// `skiff csi install` builds skiff's image and runs the node plugin's
// DaemonSet; a project whose storage is az:// (driver: skiff, the default)
// reads a data set and writes a result through it; kill -9 of the plugin in
// the middle of the job's reads changes nothing the job sees; the pod's end
// leaves no mount, process or cache behind; a volume without credentials
// fails the pod's start with an event naming the problem.

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
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

// The FailedMount events of the pods in `ns` once one holds `part`.
std::string mountEventsWith(const std::string& ns, const std::string& part) {
  std::string events;
  waitFor(
      [&] {
        events = PodCluster::shared()
                     .kubectl({"-n", ns, "get", "events", "--field-selector", "reason=FailedMount",
                               "-o", "jsonpath={.items[*].message}"})
                     .out;
        return contains(events, part);
      },
      std::chrono::seconds(120));
  return events;
}

// The driver, installed once for this binary's tests: skiff's own image
// built and pushed to the cluster's registry, the DaemonSet registered.
// The cluster has no kube-proxy, so the plugin reaches the API server at
// its own address (hostNetwork), not at the kubernetes Service's.
void installDriver() {
  static const std::string apiServer =
      PodCluster::shared()
          .kubectl({"config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"})
          .out;
  static const CommandResult installed = runSkiff(
      {"csi", "install", "--target", "k8s", "--push", "localhost:5000/skiff", "--kubelet-dir",
       kubeletDir().string(), "--api-server", apiServer, "--timeout", "240"},
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

// The state of the node's volumes of these containers (and any unreadable
// one, which a half-removed volume leaves), one per line.
std::string nodeVolumesOf(const std::vector<std::string>& containers) {
  std::string found;
  std::error_code gone;
  for (const auto& entry :
       fs::directory_iterator(kubeletDir() / "plugins/csi.skiff.dev/state/volumes", gone)) {
    std::ifstream in(entry.path() / "volume.json");
    const std::string state((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const bool ours = std::any_of(containers.begin(), containers.end(),
                                  [&](const std::string& name) { return contains(state, name); });
    if (state.empty() || ours) found += state + "\n";
  }
  return found;
}

// The skiff.yaml of a test project: one job, `read`, running COMMAND (a
// YAML flow sequence) with its volumes, the store's Secret from the
// environment, and `storage` entries as YAML lines (two spaces in, each
// with `secret: store` where it needs credentials).
std::string readerProject(const std::string& name, const std::string& storage,
                          const std::string& command, const std::string& mounts) {
  return "name: " + name + R"(
image:
  repository: localhost:5000/skiff-test-csi
secrets:
  store: {fromEnv: [AZURE_STORAGE_CONNECTION_STRING]}
storage:
)" + storage +
         R"(jobs:
  read:
    command: )" +
         command + R"(
    mounts: )" +
         mounts + R"(
    backoffLimit: 0
)";
}

// readerProject with one volume, `data`: `uri` read-only at /data, with the store's Secret.
std::string readOnlyDataProject(const std::string& name, const std::string& uri,
                                const std::string& command) {
  return readerProject(
      name, "  data: {uri: " + uri + ", mountPath: /data, readOnly: true, secret: store}\n",
      command, "[data]");
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

  // 80 reads of 48 MiB, half a second apart: the plugin dies and comes back,
  // then its pod is replaced (as an upgrade does), while they run. Every sum
  // must be the file's.
  ClusterProject project(
      "csi", "rw",
      readerProject("csi",
                    "  data: {uri: " + dataUri +
                        "/set, mountPath: /data, readOnly: true, secret: store}\n"
                        "  out: {uri: " +
                        outUri + ", mountPath: /out, cacheTimeout: 0s, secret: store}\n",
                    "[sh, -c, 'for i in $(seq 80); do md5sum /data/big.bin || exit 3; sleep 0.5; "
                    "done; ls /data > /out/listing.txt && md5sum /data/big.bin > /out/sum.txt && "
                    "echo wrote']",
                    "[data, out]"));
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

  // A new plugin pod, as a rollout of a new image makes one.
  const std::string oldPod = pluginPod()["metadata"]["name"];
  PodCluster::shared().kubectl({"-n", "kube-system", "delete", "pod", oldPod, "--wait=true"});
  ASSERT_TRUE(waitFor(
      [&] {
        const json pod = pluginPod();
        const json status = pod["status"].value("containerStatuses", json::array());
        return pod["metadata"].value("name", oldPod) != oldPod && !status.empty() &&
               status[0].value("ready", false);
      },
      std::chrono::seconds(120)))
      << pluginPod().dump(2);
  EXPECT_EQ(processesWith(dataUri), mountsBefore) << "the mount did not outlive the plugin's pod";

  const auto done = PodCluster::shared().kubectl(
      {"-n", project.ns(), "wait", "--for=condition=complete", "--timeout=300s", "job/csi-read"});
  const std::string log = logs();
  ASSERT_EQ(done.exitCode, 0) << done.err << log << project.cluster();
  std::istringstream lines(log);
  int sums = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line == "wrote") continue;
    EXPECT_EQ(line, sum + "  /data/big.bin") << "a read through the mount went wrong";
    ++sums;
  }
  EXPECT_EQ(sums, 80) << log;

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
  EXPECT_TRUE(fs::is_directory(kubeletDir() / "plugins/csi.skiff.dev/state/volumes"));
  const auto left = [&] { return nodeVolumesOf({data, out}); };
  EXPECT_TRUE(waitFor([&] { return left().empty(); }, std::chrono::seconds(30)))
      << "a volume's cache or state stayed on the node: " << left();
}

// examples/iris (as iris-csi, beside the other tests' iris) with its storage in Azurite: the Job
// trains reading /data and writes the model through skiff's driver, and the model server reads its
// repository through the driver too (modelRepository: /models, a mount).
TEST(CsiDriverOnTheCluster, TheIrisExampleOnAzureStorageTrainsAndServesThroughSkiffsDriver) {
  ASSERT_NO_FATAL_FAILURE(installDriver());
  TempDir root("skiff-iris-csi");
  const fs::path project = root / "iris";
  copyProject(fs::path(SKIFF_SOURCE_DIR) / "examples/iris", project);
  std::ifstream in(project / "skiff.yaml");
  std::string yaml((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string store =
      "az://" + std::string(Azurite::kAccount) + "/" + uniqueContainer("iris");
  const auto replace = [&](const std::string& from, const std::string& to) {
    const auto at = yaml.find(from);
    ASSERT_NE(at, std::string::npos) << from << " is no longer in examples/iris/skiff.yaml";
    yaml.replace(at, from.size(), to);
  };
  replace("name: iris\n",
          "name: iris-csi\nsecrets:\n  store: {fromEnv: [AZURE_STORAGE_CONNECTION_STRING]}\n");
  replace("    uri: file:///var/lib/skiff/iris/data\n",
          "    uri: " + store + "/data\n    secret: store\n");
  replace("    uri: file:///var/lib/skiff/iris/models\n",
          "    uri: " + store + "/models\n    secret: store\n");
  replace("    modelRepository: file:///var/lib/skiff/iris/models\n",
          "    modelRepository: /models\n    mounts: [models]\n");
  std::ofstream(project / "skiff.yaml") << yaml;

  SpawnOptions options;
  options.extraEnv = PodCluster::shared().env();
  options.extraEnv.merge(storeEnv());
  options.extraEnv["SKIFF"] = skiffBinary();
  const auto run = runCommand({(project / "run.sh").string(), "--target", "k8s"}, options);
  std::cout << run.out << run.err;
  ASSERT_EQ(run.exitCode, 0) << run.out << run.err;
  EXPECT_TRUE(contains(run.out, "-> setosa")) << run.out;
  EXPECT_TRUE(contains(run.out, "-> virginica")) << run.out;
  // The model is in the store, written through the Job's mount.
  const auto models = runSkiff({"blob", "ls", "-r", store + "/models"}, storeEnv());
  EXPECT_TRUE(contains(models.out, "model.onnx")) << models.out << models.err;
  const auto rendered = runSkiff({"render", project.string()}, storeEnv());
  EXPECT_EQ(rendered.out.find("hostPath"), std::string::npos)
      << "every volume goes through the driver:\n"
      << rendered.out;
  runSkiff({"down", "--target", "k8s", project.string()}, PodCluster::shared().env());
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
  // release --wait says why the pod waits, from the pod's events.
  const std::string out = project.releaseFails("30");
  EXPECT_TRUE(contains(out, "FailedMount: ")) << out;
  EXPECT_TRUE(contains(out, "no credentials for az://devstoreaccount1/nothing")) << out;
  const std::string events =
      mountEventsWith(project.ns(), "no credentials for az://devstoreaccount1/nothing");
  EXPECT_TRUE(contains(events, "no credentials for az://devstoreaccount1/nothing"))
      << events << project.cluster();
  EXPECT_TRUE(contains(events, "nodePublishSecretRef")) << events;
}

TEST(CsiDriverOnTheCluster, AWrongKeyFailsThePodsStartWithTheStoresRefusal) {
  ASSERT_NO_FATAL_FAILURE(installDriver());
  const std::string container = uniqueContainer("wrongkey");
  const std::string uri = "az://" + std::string(Azurite::kAccount) + "/" + container;
  ASSERT_EQ(runSkiff({"blob", "cp", "-", uri + "/x"}, storeEnv(), "x").exitCode, 0);
  ClusterProject project("csi", "wrongkey", readOnlyDataProject("wrongkey", uri, "[ls, /data]"));
  ASSERT_EQ(project.build().exitCode, 0);
  std::string wrong = Azurite::shared().connectionString();
  const std::string key = Azurite::kKey;
  wrong.replace(wrong.find(key), key.size(), "d3Jvbmcga2V5IGZvciB0aGUgdGVzdA==");
  const auto release = project.skiff({"release"}, {{"AZURE_STORAGE_CONNECTION_STRING", wrong}});
  ASSERT_EQ(release.exitCode, 0) << release.err;
  const std::string events =
      mountEventsWith(project.ns(), "the storage service refused the credentials");
  EXPECT_TRUE(contains(events, "the storage service refused the credentials"))
      << events << project.cluster();
  EXPECT_FALSE(contains(events, "d3Jvbmcga2V5")) << "the key is in an event";
}

// A mount process that dies under a running pod is news for the pod's
// events (the plugin's log alone would leave its owner guessing at
// ENOTCONN); the pod's end still leaves nothing behind.
TEST(CsiDriverOnTheCluster, AMountThatDiesIsToldInThePodsEvents) {
  ASSERT_NO_FATAL_FAILURE(installDriver());
  const std::string container = uniqueContainer("dies");
  const std::string uri = "az://" + std::string(Azurite::kAccount) + "/" + container;
  ASSERT_EQ(runSkiff({"blob", "cp", "-", uri + "/hello.txt"}, storeEnv(), "hello\n").exitCode, 0);
  ClusterProject project(
      "csi", "dies",
      readOnlyDataProject("dies", uri, "[sh, -c, 'cat /data/hello.txt && sleep 600']"));
  ASSERT_EQ(project.build().exitCode, 0);
  ASSERT_EQ(project.skiff({"release"}, storeEnv()).exitCode, 0);
  const auto kubectl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"-n", project.ns()});
    return PodCluster::shared().kubectl(args);
  };
  std::string pod;
  ASSERT_TRUE(waitFor(
      [&] {
        pod = kubectl({"get", "pods", "-o", "jsonpath={.items[0].metadata.name}"}).out;
        return !pod.empty() && kubectl({"logs", pod}).out == "hello\n";
      },
      std::chrono::seconds(120)))
      << project.cluster();

  const auto mounts = processesWith(uri);
  ASSERT_EQ(mounts.size(), 1u);
  ASSERT_EQ(::kill(mounts.front(), SIGKILL), 0);
  std::string events;
  EXPECT_TRUE(waitFor(
      [&] {
        events = kubectl({"get", "events", "--field-selector",
                          "reason=SkiffMountDied,involvedObject.name=" + pod, "-o",
                          "jsonpath={.items[*].message}"})
                     .out;
        return !events.empty();
      },
      std::chrono::seconds(60)))
      << "no event on the pod\n"
      << PodCluster::shared()
             .kubectl({"-n", "kube-system", "logs", pluginPod()["metadata"]["name"]})
             .out;
  EXPECT_TRUE(contains(events, "volume " + uri)) << events;
  EXPECT_TRUE(contains(events, "pid " + std::to_string(mounts.front()))) << events;
  EXPECT_TRUE(contains(events, "ENOTCONN")) << events;
  EXPECT_TRUE(contains(events, "Delete the pod")) << events;
  const auto status = project.skiff({"status"});
  EXPECT_TRUE(contains(status.out, "SkiffMountDied: volume " + uri)) << status.out << status.err;
  // What the docs say the pod sees meanwhile.
  const auto read = kubectl({"exec", pod, "--", "cat", "/data/hello.txt"});
  EXPECT_NE(read.exitCode, 0);
  EXPECT_TRUE(contains(read.out + read.err, "Transport endpoint is not connected"))
      << read.out << read.err;

  kubectl({"delete", "job", "dies-read", "--wait=true"});
  EXPECT_TRUE(waitFor(
      [&] {
        return kubectl({"get", "pod", pod, "-o", "name", "--ignore-not-found"}).out.empty();
      },
      std::chrono::seconds(90)));
  const auto left = [&] { return nodeVolumesOf({container}); };
  EXPECT_TRUE(waitFor([&] { return left().empty(); }, std::chrono::seconds(60)))
      << "the dead mount's state stayed on the node: " << left();
}

// Attributes written by hand (a PersistentVolume, an inline volume) are
// checked: each mistake is the pod's event, naming the attribute.
TEST(CsiDriverOnTheCluster, BadAttributesAndAStaticVolumeOfTheirOwn) {
  ASSERT_NO_FATAL_FAILURE(installDriver());
  const std::string ns = "skiff-csi-static-" + std::to_string(::getpid());
  ASSERT_EQ(PodCluster::shared().kubectl({"create", "namespace", ns}).exitCode, 0);
  const std::string container = uniqueContainer("static");
  const std::string uri = "az://" + std::string(Azurite::kAccount) + "/" + container;
  ASSERT_EQ(runSkiff({"blob", "cp", "-", uri + "/hello.txt"}, storeEnv(), "hello\n").exitCode, 0);
  ASSERT_EQ(PodCluster::shared()
                .kubectl({"-n", ns, "create", "secret", "generic", "store",
                          "--from-literal=AZURE_STORAGE_CONNECTION_STRING=" +
                              Azurite::shared().connectionString()})
                .exitCode,
            0);
  TempDir dir("skiff-csi-objects");
  dir.write("objects.yaml", R"(apiVersion: v1
kind: PersistentVolume
metadata: {name: )" + ns + R"(}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadOnlyMany]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  csi:
    driver: csi.skiff.dev
    volumeHandle: )" + ns + R"(
    readOnly: true
    volumeAttributes: {uri: ")" +
                                uri + R"("}
    nodePublishSecretRef: {name: store, namespace: )" +
                                ns + R"(}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: )" +
                                ns + R"(}
spec:
  accessModes: [ReadOnlyMany]
  storageClassName: ""
  volumeName: )" + ns + R"(
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: reader, namespace: )" +
                                ns + R"(}
spec:
  restartPolicy: Never
  containers:
    - {name: main, image: busybox, command: [cat, /data/hello.txt],
       volumeMounts: [{name: data, mountPath: /data}]}
  volumes:
    - {name: data, persistentVolumeClaim: {claimName: data, readOnly: true}}
---
apiVersion: v1
kind: Pod
metadata: {name: bad, namespace: )" +
                                ns + R"(}
spec:
  restartPolicy: Never
  containers:
    - {name: main, image: busybox, command: [ls, /a, /b],
       volumeMounts: [{name: a, mountPath: /a}, {name: b, mountPath: /b}]}
  volumes:
    - {name: a, csi: {driver: csi.skiff.dev, volumeAttributes: {uri: "s3://bucket/x"}}}
    - name: b
      csi:
        driver: csi.skiff.dev
        volumeAttributes: {uri: ")" +
                                uri + R"(", cacheTimeot: "5"}
        nodePublishSecretRef: {name: store}
)");
  const auto applied =
      PodCluster::shared().kubectl({"apply", "-f", (dir / "objects.yaml").string()});
  ASSERT_EQ(applied.exitCode, 0) << applied.out << applied.err;

  std::string phase;
  waitFor(
      [&] {
        phase = PodCluster::shared()
                    .kubectl({"-n", ns, "get", "pod", "reader", "-o", "jsonpath={.status.phase}"})
                    .out;
        return phase == "Succeeded" || phase == "Failed";
      },
      std::chrono::seconds(120));
  EXPECT_EQ(phase, "Succeeded")
      << PodCluster::shared().kubectl({"-n", ns, "describe", "pod", "reader"}).out;
  EXPECT_EQ(PodCluster::shared().kubectl({"-n", ns, "logs", "reader"}).out, "hello\n");

  const std::string typo = "unknown volume attribute \"cacheTimeot\"";
  const std::string scheme = "\"s3://bucket/x\" is not an az:// or file:// URI";
  EXPECT_TRUE(contains(mountEventsWith(ns, typo), typo));
  const std::string events = mountEventsWith(ns, scheme);
  EXPECT_TRUE(contains(events, scheme)) << events;
  PodCluster::shared().kubectl({"delete", "namespace", ns, "--wait=true"});
  PodCluster::shared().kubectl({"delete", "pv", ns});
}

}  // namespace
}  // namespace skiff::testing
