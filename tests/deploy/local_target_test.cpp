// The local target for real: `skiff release` / status / logs / down through
// the binary, with a supervisor, bubblewrap, FUSE mounts of file:// storage,
// and real processes.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/files.hpp"
#include "deploy/local/cleanup.hpp"
#include "harness/jupyter.hpp"
#include "harness/services.hpp"
#include "harness/temp_dir.hpp"

namespace skiff::testing {
namespace {

using nlohmann::json;

// The command line of every running process by PID. A process may end while
// it is read (its /proc files then fail to read): it simply is not listed.
std::map<int, std::string> commandLines() {
  std::map<int, std::string> lines;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const int pid = std::atoi(entry.path().filename().c_str());
    if (pid <= 0) continue;
    try {
      lines[pid] = readSmallFile(entry.path() / "cmdline");
    } catch (const std::ios_base::failure&) {
    }
  }
  return lines;
}

int modeOf(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

bool mountedUnder(const std::filesystem::path& dir) {
  return readSmallFile("/proc/mounts").find(dir.string()) != std::string::npos;
}

// A project in a temp dir, taken down (and checked) when the test ends.
class Project {
 public:
  explicit Project(const std::string& yaml) { dir_.write("skiff.yaml", yaml); }
  ~Project() { skiff({"down"}); }

  CommandResult skiff(std::vector<std::string> args,
                      const std::map<std::string, std::string>& env = {}) const {
    args.push_back(dir_.path());
    return runSkiff(args, env);
  }
  json status() const {
    const auto result = skiff({"status", "--json"});
    EXPECT_EQ(result.exitCode, 0) << result.err;
    json runs = json::object();
    const json parsed = json::parse(result.out, nullptr, false);
    EXPECT_TRUE(parsed.contains("runs")) << result.out << result.err;
    if (!parsed.contains("runs")) return runs;
    for (const auto& run : parsed["runs"]) runs[run["name"].get<std::string>()] = run;
    return runs;
  }
  // Waits until `predicate(status)` holds, up to `seconds`.
  template <typename Predicate>
  json waitFor(Predicate predicate, double seconds = 30) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    json runs;
    do {
      runs = status();
      if (predicate(runs)) return runs;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    } while (std::chrono::steady_clock::now() < deadline);
    ADD_FAILURE() << "timed out; status: " << runs.dump(2);
    return runs;
  }
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_{"skiff-local"};
};

TEST(LocalTarget, AJobSeesItsMountsAndSecretsAndReportsMetrics) {
  TempDir store("skiff-store");
  store.write("data/input.txt", "blob data\n");
  std::filesystem::create_directories(store / "out");
  Project project(
      "name: p\n"
      "storage:\n"
      "  data: {uri: 'file://" +
      (store / "data").string() +
      "', mountPath: /data, readOnly: true}\n"
      "  out: {uri: 'file://" +
      (store / "out").string() +
      "', mountPath: /out, cacheTimeout: 0s}\n"
      "secrets:\n"
      "  api: {fromEnv: [SKIFF_TEST_TOKEN]}\n"
      "jobs:\n"
      "  work:\n"
      "    mounts: [data, out]\n"
      "    secrets: [api]\n"
      "    command: [sh, -c, 'cat /data/input.txt; test \"$SKIFF_TEST_TOKEN\" = "
      "hunter22 && echo token-arrived; echo \"echoed $SKIFF_TEST_TOKEN\"; "
      "touch /data/nope 2>/dev/null || echo read-only-rejected; "
      "cp /data/input.txt /out/copy.txt; "
      "echo skiff:metric loss=0.5 step=1; echo skiff:metric loss=0.25 accuracy=0.9 step=2']\n");
  const auto release =
      project.skiff({"release", "--wait", "--timeout", "60"}, {{"SKIFF_TEST_TOKEN", "hunter22"}});
  ASSERT_EQ(release.exitCode, 0) << release.out << release.err;
  EXPECT_NE(release.out.find("work Succeeded"), std::string::npos) << release.out;

  const auto runs = project.status();
  EXPECT_EQ(runs["work"]["status"], "Succeeded");
  EXPECT_EQ(runs["work"]["exitCode"], 0);
  EXPECT_EQ(runs["work"]["metrics"]["loss"], 0.25) << "the last value of each metric";
  EXPECT_EQ(runs["work"]["metrics"]["accuracy"], 0.9);
  EXPECT_EQ(readSmallFile(store / "out/copy.txt"), "blob data\n") << "written through the mount";

  const auto logs = project.skiff({"logs", "work"});
  EXPECT_NE(logs.out.find("blob data"), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("token-arrived"), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("read-only-rejected"), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("echoed <redacted>"), std::string::npos) << logs.out;
  const auto table = project.skiff({"status"});
  for (const auto& output :
       {release.out, release.err, logs.out, table.out, project.status().dump()}) {
    EXPECT_EQ(output.find("hunter22"), std::string::npos) << "a secret leaked: " << output;
  }
  // The supervisor ends the release (and its mounts) once nothing is left to run.
  for (int i = 0; i < 100 && mountedUnder(project.dir().path()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_FALSE(mountedUnder(project.dir().path())) << "mounts end with the release";
}

TEST(LocalTarget, AFailingJobKeepsItsExitCodeAndLogsAfterItsRetries) {
  Project project(
      "name: p\n"
      "jobs:\n"
      "  broken:\n"
      "    backoffLimit: 2\n"
      "    command: [sh, -c, 'echo attempt; echo to-stderr >&2; exit 7']\n");
  const auto release = project.skiff({"release", "--wait", "--timeout", "60"});
  EXPECT_EQ(release.exitCode, 1) << release.out << release.err;
  EXPECT_NE(release.out.find("broken Failed: main exited with code 7"), std::string::npos)
      << release.out;
  const auto runs = project.status();
  EXPECT_EQ(runs["broken"]["exitCode"], 7);
  EXPECT_EQ(runs["broken"]["replicas"][0]["restarts"], 2);
  const auto logs = project.skiff({"logs", "broken"}).out;
  size_t attempts = 0;
  for (auto at = logs.find("attempt"); at != std::string::npos; at = logs.find("attempt", at + 1)) {
    ++attempts;
  }
  EXPECT_EQ(attempts, 3u) << logs;
  EXPECT_NE(logs.find("to-stderr"), std::string::npos) << logs;
}

TEST(LocalTarget, ATFJobGivesEveryReplicaTheOperatorsTFConfig) {
  // Each replica checks its own TF_CONFIG; the chief decides the job (and,
  // like a real chief, outlives its workers).
  const std::string check =
      "import json, os; c = json.loads(os.environ['TF_CONFIG']); "
      "assert len(c['cluster']['chief']) == 1 and len(c['cluster']['worker']) == 2, c; "
      "t = c['task']; assert os.environ['SKIFF_REPLICA'] == '%s-%d' % (t['type'], t['index']); "
      "print('task', t['type'], t['index'], c['cluster'][t['type']][t['index']], flush=True); "
      "import time; time.sleep(1.5 if t['type'] == 'chief' else 0)";
  Project project(
      "name: p\n"
      "jobs:\n"
      "  dist:\n"
      "    kind: tfjob\n"
      "    replicas: {chief: 1, worker: 2}\n"
      "    command: [/usr/bin/python3, -c, \"" +
      check + "\"]\n");
  const auto release = project.skiff({"release", "--wait", "--timeout", "60"});
  ASSERT_EQ(release.exitCode, 0) << release.out << release.err;
  const auto runs = project.status();
  ASSERT_EQ(runs["dist"]["replicas"].size(), 3u);
  for (const auto& replica : runs["dist"]["replicas"]) {
    const auto name = replica["replica"].get<std::string>();
    const auto logs = project.skiff({"logs", "dist", "--replica", name}).out;
    EXPECT_NE(logs.find("task " + name.substr(0, name.find('-')) + " " +
                        name.substr(name.find('-') + 1) + " 127.0.0.1:"),
              std::string::npos)
        << name << ": " << logs;
  }
}

TEST(LocalTarget, APyTorchJobGivesRanksAndTheMasterAddress) {
  Project project(
      "name: p\n"
      "jobs:\n"
      "  torch:\n"
      "    kind: pytorchjob\n"
      "    replicas: {master: 1, worker: 2}\n"
      "    command: [sh, -c, 'echo rank=$RANK world=$WORLD_SIZE at=$MASTER_ADDR:$MASTER_PORT; "
      "if [ $RANK = 0 ]; then sleep 1; fi']\n");
  ASSERT_EQ(project.skiff({"release", "--wait"}).exitCode, 0);
  const auto logs = project.skiff({"logs", "torch"}).out;
  EXPECT_NE(logs.find("[torch/master-0] rank=0 world=3 at=127.0.0.1:"), std::string::npos) << logs;
  EXPECT_NE(logs.find("[torch/worker-1] rank=2 world=3"), std::string::npos) << logs;
}

TEST(LocalTarget, SparkWithoutSparkSubmitFailsSayingWhatIsMissing) {
  Project project(
      "name: p\n"
      "jobs:\n"
      "  etl:\n"
      "    kind: spark\n"
      "    spark: {mainApplicationFile: etl.py}\n");
  const auto release = project.skiff({"release", "--wait"}, {{"PATH", "/usr/bin:/bin"}});
  EXPECT_EQ(release.exitCode, 1);
  EXPECT_NE(release.out.find("spark-submit was not found"), std::string::npos) << release.out;
}

TEST(LocalTarget, ACrashLoopingServiceIsRestartedWithBackoff) {
  Project project(
      "name: p\n"
      "services:\n"
      "  flaky:\n"
      "    port: " +
      std::to_string(freeLoopbackPort()) +
      "\n"
      "    command: [sh, -c, 'echo starting; sleep 0.1; exit 1']\n");
  const auto start = std::chrono::steady_clock::now();
  const auto release = project.skiff({"release", "--wait"});
  EXPECT_EQ(release.exitCode, 1) << "waiting gives up on a crash loop";
  EXPECT_NE(release.out.find("last lines of flaky/main"), std::string::npos) << release.out;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const auto runs = project.status();
  const int restarts = runs["flaky"]["replicas"][0]["restarts"];
  // Backoff 1s, 2s, 4s, 8s: 3 restarts take about 3.3 s, then 4 s to the next one.
  EXPECT_GE(restarts, 3);
  EXPECT_LE(restarts, 5);
  EXPECT_EQ(runs["flaky"]["status"], "Restarting");
  EXPECT_NE(runs["flaky"]["message"].get<std::string>().find("exited with code 1"),
            std::string::npos);
}

TEST(LocalTarget, AServiceBecomesReadyAndDownLeavesNothingBehind) {
  TempDir store("skiff-store");
  std::filesystem::create_directories(store / "site");
  store.write("site/index.html", "hello from blob\n");
  const int port = freeLoopbackPort();
  Project project(
      "name: p\n"
      "storage:\n"
      "  site: {uri: 'file://" +
      (store / "site").string() +
      "', mountPath: /site}\n"
      "services:\n"
      "  web:\n"
      "    port: " +
      std::to_string(port) +
      "\n"
      "    mounts: [site]\n"
      "    command: [/usr/bin/python3, -m, http.server, --bind, 127.0.0.1, "
      "--directory, /site, '" +
      std::to_string(port) + "']\n");
  const auto release = project.skiff({"release", "--wait", "--timeout", "60"});
  ASSERT_EQ(release.exitCode, 0) << release.out << release.err;
  EXPECT_NE(release.out.find("web Ready at http://127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << release.out;
  const auto page =
      runCommand({"curl", "-sf", "http://127.0.0.1:" + std::to_string(port) + "/index.html"});
  EXPECT_EQ(page.out, "hello from blob\n");
  const int pid = project.status()["web"]["replicas"][0]["pid"];
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(mountedUnder(project.dir().path()));

  const auto down = project.skiff({"down"});
  EXPECT_EQ(down.exitCode, 0) << down.err;
  EXPECT_FALSE(deploy::local::isAlive(pid)) << "the service process is gone";
  EXPECT_FALSE(mountedUnder(project.dir().path())) << "no mount is left";
  EXPECT_EQ(project.status()["web"]["status"], "Stopped");
}

// `skiff status` asks a serve service's server what it serves: each model's
// versions with the labels naming them (config.yaml's and the API's).
TEST(LocalTarget, StatusShowsTheServedVersionsAndTheirLabels) {
  TempDir store("skiff-store");
  writeMlpRepository(store / "models", SKIFF_MAKE_MODELS, {"1", "2"},
                     "version_policy: all\nlabels: {stable: 1, canary: 2}\n");
  const int port = freeLoopbackPort();
  Project project(
      "name: p\nservices:\n  classifier:\n    kind: serve\n    modelRepository: 'file://" +
      (store / "models").string() + "'\n    port: " + std::to_string(port) + "\n    poll: 1s\n");
  const auto release = project.skiff({"release", "--wait", "--timeout", "60"});
  ASSERT_EQ(release.exitCode, 0) << release.out << release.err;
  const auto labelled =
      runCommand({"curl", "-sf", "-X", "PUT", "-d", R"({"version": 2})",
                  "http://127.0.0.1:" + std::to_string(port) + "/v2/models/mlp/labels/next"});
  ASSERT_EQ(labelled.exitCode, 0) << labelled.err;

  const auto table = project.skiff({"status"});
  EXPECT_NE(table.out.find("models: mlp v2 (canary, next), v1 (stable)"), std::string::npos)
      << table.out << table.err;
  EXPECT_EQ(project.status()["classifier"]["models"], json::parse(R"([{"name": "mlp", "versions": [
                {"version": 2, "state": "READY", "labels": ["canary", "next"]},
                {"version": 1, "state": "READY", "labels": ["stable"]}]}])"));
}

TEST(LocalTarget, AfterASupervisorCrashTheNextCommandCleansUp) {
  TempDir store("skiff-store");
  std::filesystem::create_directories(store / "data");
  Project project(
      "name: p\n"
      "storage:\n"
      "  data: {uri: 'file://" +
      (store / "data").string() +
      "', mountPath: /data}\n"
      "services:\n"
      "  idle:\n"
      "    port: " +
      std::to_string(freeLoopbackPort()) +
      "\n"
      "    mounts: [data]\n"
      "    command: [sleep, '600']\n");
  ASSERT_EQ(project.skiff({"release"}).exitCode, 0);
  const json runs =
      project.waitFor([](const json& r) { return r["idle"]["replicas"][0]["pid"] > 0; });
  const int pid = runs["idle"]["replicas"][0]["pid"];
  const auto supervisor =
      runCommand({"pgrep", "-f", "__supervise " + project.dir().path().string()});
  ASSERT_FALSE(supervisor.out.empty());
  kill(std::stoi(supervisor.out), SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(mountedUnder(project.dir().path())) << "the crash left the mount";

  const auto status = project.skiff({"status"});
  EXPECT_NE(status.err.find("unmounted"), std::string::npos) << status.err;
  EXPECT_FALSE(mountedUnder(project.dir().path()));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(deploy::local::isAlive(pid)) << "the orphaned service process was stopped";
  EXPECT_EQ(project.status()["idle"]["status"], "Lost");
}

TEST(LocalTarget, TheNotebookRunsJupyterWithItsTokenOutOfSight) {
  const int port = freeLoopbackPort();
  Project project("name: p\nnotebook: {port: " + std::to_string(port) + "}\n");
  const auto release = project.skiff({"release", "--wait", "--timeout", "90"});
  ASSERT_EQ(release.exitCode, 0) << release.out << release.err;
  const std::string endpoint = project.status()["notebook"]["endpoint"];
  const auto token = endpoint.substr(endpoint.find("token=") + 6);
  ASSERT_GE(token.size(), 16u) << endpoint;
  const auto contents =
      runCommand({"curl", "-sf",
                  "http://127.0.0.1:" + std::to_string(port) + "/api/contents/p?token=" + token});
  EXPECT_NE(contents.out.find("skiff.yaml"), std::string::npos)
      << "the project is in the notebook's root, under its name";
  const auto refused = runCommand({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                   "http://127.0.0.1:" + std::to_string(port) + "/api/contents"});
  EXPECT_EQ(refused.out, "403") << "no token, no access";
  for (const auto& [pid, cmdline] : commandLines()) {
    EXPECT_EQ(cmdline.find(token), std::string::npos)
        << pid << " has the token on its command line";
  }
  // The token is not in the state database at all (it was, readable by all).
  const auto dir = project.dir().path() / ".skiff";
  for (const char* file : {"state.db", "state.db-wal"}) {
    EXPECT_EQ(readSmallFile(dir / file).find(token), std::string::npos)
        << file << " holds the token";
  }
  EXPECT_EQ(modeOf(dir / "tokens" / "notebook"), 0600);
  EXPECT_NE(project.skiff({"status"}).out.find("?token=" + token), std::string::npos)
      << "the owner still sees the login URL";
}

// The file browser used to show only the project (its seed data/, writable),
// never the /data and /models mounts the kernel reads.
TEST(LocalTarget, TheNotebooksFileBrowserShowsTheProjectAndItsMounts) {
  TempDir store("skiff-store");
  store.write("data/iris.csv", "5.1,3.5,1.4,0.2,setosa\n");
  std::filesystem::create_directories(store / "models");
  const int port = freeLoopbackPort();
  Project project(
      "name: iris\n"
      "storage:\n"
      "  data: {uri: 'file://" +
      (store / "data").string() +
      "', mountPath: /data, readOnly: true}\n"
      "  models: {uri: 'file://" +
      (store / "models").string() +
      "', mountPath: /models, cacheTimeout: 0s}\n"
      "notebook: {port: " +
      std::to_string(port) + ", mounts: [data, models]}\n");
  project.dir().write("data/seed.csv", "the repository's copy\n");
  const auto release = project.skiff({"release", "--wait", "--timeout", "90"});
  ASSERT_EQ(release.exitCode, 0) << release.out << release.err;
  const std::string endpoint = project.status()["notebook"]["endpoint"];
  const std::string token = endpoint.substr(endpoint.find("token=") + 6);
  const JupyterContents jupyter{"http://127.0.0.1:" + std::to_string(port), token};
  const auto root = jupyter.list("");
  ASSERT_TRUE(root.count("iris") && root.count("data") && root.count("models"))
      << json(root).dump();
  EXPECT_EQ(root.at("data")["type"], "directory");
  EXPECT_TRUE(jupyter.list("data").count("iris.csv")) << "the /data mount, as the kernel reads it";
  EXPECT_FALSE(jupyter.list("data").count("seed.csv"));
  EXPECT_TRUE(jupyter.list("iris/data").count("seed.csv")) << "the project's own data/ still there";
  EXPECT_TRUE(jupyter.list("iris").count("skiff.yaml"));
  EXPECT_EQ(jupyter.list("data").at("iris.csv")["writable"], false) << "read-only stays read-only";
  EXPECT_NE(jupyter.put("data/new.txt", "x").rfind("2", 0), 0u)
      << "a read-only mount refuses writes";
  EXPECT_EQ(jupyter.put("models/note.txt", "x").rfind("2", 0), 0u) << "a writable mount takes them";
  EXPECT_EQ(readSmallFile(store / "models/note.txt"), "x");
  // The browser opens in the project, where the notebooks are.
  EXPECT_NE(jupyter.landing().find("/tree/iris"), std::string::npos);
}

// GPUs on the local target, with device nodes made for the test (this machine
// has none): nvidia0 and nvidiactl are /dev/null's numbers, so they open.
struct FakeGpus {
  TempDir dir{"skiff-gpus"};
  explicit FakeGpus(int count) {
    std::filesystem::create_directories(dir / "dev");
    std::filesystem::create_directories(dir / "locks");
    for (int i = 0; i < count; ++i) makeNode("nvidia" + std::to_string(i));
    if (count > 0) makeNode("nvidiactl");
  }
  void makeNode(const std::string& name) {
    const auto result = runCommand({"mknod", (dir / "dev" / name).string(), "c", "1", "3"});
    EXPECT_EQ(result.exitCode, 0) << result.err;
  }
  std::map<std::string, std::string> env() const {
    return {{"SKIFF_GPU_DEVICE_DIR", (dir / "dev").string()},
            {"SKIFF_GPU_LOCK_DIR", (dir / "locks").string()}};
  }
};

TEST(LocalTarget, AGpuJobOnAMachineWithoutGpusFailsSayingSo) {
  FakeGpus none(0);
  Project project("name: p\njobs:\n  train: {command: ['true'], resources: {gpu: 1}}\n");
  const auto release = project.skiff({"release", "--wait", "--timeout", "30"}, none.env());
  EXPECT_NE(release.exitCode, 0) << release.out;
  const std::string message = project.status()["train"]["message"];
  EXPECT_NE(message.find("train asks for 1 GPU (resources.gpu), and this machine has 0"),
            std::string::npos)
      << message;
}

TEST(LocalTarget, GpuJobsGetTheDevicesAndTakeTurnsOnOneGpu) {
  FakeGpus one(1);
  const std::string command =
      "[sh, -c, 'echo start $(date +%s%N); echo visible=$CUDA_VISIBLE_DEVICES "
      "nvidia=$NVIDIA_VISIBLE_DEVICES; ls /dev/nvidia0 /dev/nvidiactl; sleep 1; "
      "echo end $(date +%s%N)']";
  Project project("name: p\njobs:\n  a: {command: " + command +
                  ", resources: {gpu: 1}}\n  b: {command: " + command + ", resources: {gpu: 1}}\n");
  const auto release = project.skiff({"release", "--wait", "--timeout", "60"}, one.env());
  ASSERT_EQ(release.exitCode, 0) << release.out << release.err;
  std::map<std::string, std::pair<uint64_t, uint64_t>> spans;
  for (const std::string job : {"a", "b"}) {
    const auto logs = project.skiff({"logs", job});
    EXPECT_NE(logs.out.find("visible=0 nvidia=0"), std::string::npos) << logs.out;
    EXPECT_NE(logs.out.find("/dev/nvidia0"), std::string::npos) << logs.out;
    EXPECT_NE(logs.out.find("/dev/nvidiactl"), std::string::npos) << logs.out;
    const auto start = logs.out.find("start ");
    const auto end = logs.out.find("end ");
    ASSERT_TRUE(start != std::string::npos && end != std::string::npos) << logs.out;
    spans[job] = {std::stoull(logs.out.substr(start + 6)), std::stoull(logs.out.substr(end + 4))};
  }
  const bool aFirst = spans["a"].first < spans["b"].first;
  const auto& first = aFirst ? spans["a"] : spans["b"];
  const auto& second = aFirst ? spans["b"] : spans["a"];
  EXPECT_LE(first.second, second.first) << "one GPU, two jobs: the second waited for the first";
}

// Whether uid 65534 (nobody) can read `file`: the test of the issue, with setpriv.
bool nobodyCanRead(const std::filesystem::path& file) {
  return runCommand(
             {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "cat", file.string()})
             .exitCode == 0;
}

TEST(LocalTarget, StateAndLogsAreTheOwnersAloneAndTheSupervisorKeepsNoStrayEnvironment) {
  TempDir work("skiff-private");
  ::chmod(work.path().c_str(), 0755);  // a project directory others may enter
  const auto projectDir = work / "p";
  std::filesystem::create_directories(projectDir / ".skiff" / "logs");
  ::chmod((projectDir / ".skiff").c_str(), 0755);  // as an earlier version left it
  {
    std::ofstream old(projectDir / ".skiff" / "logs" / "old.log");
    old << "from an earlier version\n";
  }
  ::chmod((projectDir / ".skiff" / "logs" / "old.log").c_str(), 0644);
  std::ofstream(projectDir / "skiff.yaml")
      << "name: p\njobs:\n  show: {command: [sh, -c, 'echo job-ran; env']}\n"
         "services:\n  idle: {command: [sleep, '600'], port: "
      << freeLoopbackPort() << "}\n";
  const mode_t umask = ::umask(0);  // the widest umask: permissions must not depend on it
  const auto release =
      runSkiff({"release", projectDir.string()}, {{"STRAY_SECRET", "hunter2-in-the-shell"}});
  ::umask(umask);
  ASSERT_EQ(release.exitCode, 0) << release.out << release.err;
  int servicePid = 0;
  bool jobDone = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while ((!jobDone || servicePid == 0) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const json parsed =
        json::parse(runSkiff({"status", "--json", projectDir.string()}).out, nullptr, false);
    if (!parsed.contains("runs")) continue;
    for (const auto& run : parsed["runs"]) {
      if (run["name"] == "show") jobDone = run["status"] == "Succeeded";
      if (run["name"] == "idle" && !run["replicas"].empty()) {
        servicePid = run["replicas"][0]["pid"].get<int>();
      }
    }
  }
  ASSERT_TRUE(jobDone && servicePid > 0);

  const auto dir = projectDir / ".skiff";
  EXPECT_EQ(modeOf(dir), 0700);
  for (const char* file : {"state.db", "state.db-wal", "supervisor.log", "logs/old.log"}) {
    EXPECT_EQ(modeOf(dir / file), 0600) << file;
  }
  EXPECT_EQ(modeOf(dir / "logs"), 0700);
  EXPECT_EQ(modeOf(dir / "supervisor.sock") & 0777, 0600) << "docs/local.md says 0600";
  std::vector<std::filesystem::path> logs;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir / "logs")) {
    if (entry.is_regular_file()) logs.push_back(entry.path());
  }
  ASSERT_GE(logs.size(), 3u);
  for (const auto& log : logs) EXPECT_EQ(modeOf(log), 0600) << log;
  for (const auto& file : {dir / "state.db", dir / "state.db-wal", logs.back()}) {
    EXPECT_FALSE(nobodyCanRead(file)) << file << " is readable by another user";
  }

  // The supervisor and its jobs keep PATH and HOME, not the releasing shell's secrets.
  const auto out = runSkiff({"logs", "show", projectDir.string()});
  EXPECT_NE(out.out.find("job-ran"), std::string::npos) << out.out << out.err;
  EXPECT_NE(out.out.find("PATH="), std::string::npos) << out.out;
  EXPECT_EQ(out.out.find("STRAY_SECRET"), std::string::npos) << out.out;
  std::vector<int> pids = {servicePid};
  for (const auto& [pid, cmdline] : commandLines()) {
    if (cmdline.find(std::string("__supervise") + std::string(1, '\0') + projectDir.string()) !=
        std::string::npos) {
      pids.push_back(pid);
    }
  }
  ASSERT_EQ(pids.size(), 2u) << "the supervisor was not found";
  for (const int pid : pids) {
    const auto environ = readSmallFile("/proc/" + std::to_string(pid) + "/environ");
    EXPECT_NE(environ.find("PATH="), std::string::npos);
    EXPECT_EQ(environ.find("STRAY_SECRET"), std::string::npos)
        << pid << " kept the releasing shell's environment";
  }
  runSkiff({"down", projectDir.string()});
}

TEST(LocalTarget, LogsOfAnUnknownNameSuggestTheClosestOne) {
  Project project("name: p\njobs:\n  train: {command: ['true']}\n");
  ASSERT_EQ(project.skiff({"release", "--wait"}).exitCode, 0);
  const auto logs = project.skiff({"logs", "trian"});
  EXPECT_EQ(logs.exitCode, 1);
  EXPECT_NE(logs.err.find("did you mean \"train\"?"), std::string::npos) << logs.err;
}

}  // namespace
}  // namespace skiff::testing
