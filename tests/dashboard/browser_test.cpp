// The dashboard in a real browser (Debian's Chromium through npm's
// playwright-core) against a live `skiff dashboard` over a project that
// really ran on the local target: a job of 30 steps that writes a model
// version, a failing job with retries, two releases, and a `skiff serve`
// under traffic. Then the run history: it survives `skiff down` and a
// crashed supervisor, and retention bounds the database.
//
// Screenshots: SKIFF_SCREENSHOTS (build/tests/dashboard/screenshots).

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/subprocess.hpp"
#include "deploy/local/metrics.hpp"
#include "deploy/local/state.hpp"
#include "harness/services.hpp"
#include "harness/temp_dir.hpp"
#include "http/http_client.hpp"

namespace skiff::dashboard {
namespace {

using deploy::local::StateDb;
using nlohmann::json;
using skiff::testing::runSkiff;
using skiff::testing::TempDir;

using skiff::testing::waitFor;

constexpr const char* kTrain = R"py(import os, shutil, sys, time
repo = os.path.join(os.getcwd(), "models", "mlp")
os.makedirs(repo, exist_ok=True)
version = len([d for d in os.listdir(repo) if d.isdigit()]) + 1
for step in range(1, 31):
    print(f"skiff:metric loss={1.0 / step:.6f} step={step}", flush=True)
    print(f"skiff:metric auc={0.95 + step / 1e6:.6f} step={step}", flush=True)
    time.sleep(0.01)
print(f"skiff:metric accuracy={0.9 + version / 100:.2f}")
os.makedirs(f"{repo}/{version}.tmp")
shutil.copy("made/mlp.onnx", f"{repo}/{version}.tmp/model.onnx")
os.rename(f"{repo}/{version}.tmp", f"{repo}/{version}")
print(f"skiff:artifact {repo}/{version}/model.onnx", flush=True)
)py";

std::string inferBody(bool valid) {
  std::string data;
  for (int i = 0; i < 16; ++i) data += fmt::format("{}{}", i ? "," : "", i * 0.1);
  return valid
             ? fmt::format(
                   R"({{"inputs":[{{"name":"x","shape":[1,16],"datatype":"FP32","data":[{}]}}]}})",
                   data)
             : R"({"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]})";
}

TEST(DashboardBrowser, RunsComparedChartsHoverServedVersionsAndNarrowLayout) {
  TempDir project("skiff-dashboard-browser");
  // Whatever fails, nothing of the project keeps running after the test.
  struct Down {
    std::string dir;
    ~Down() { runSkiff({"down", dir}); }
  } down{project.path().string()};
  const auto made =
      runCommand({"/usr/bin/python3", SKIFF_MAKE_MODELS, (project / "made").string()});
  ASSERT_EQ(made.exitCode, 0) << made.err;
  project.write("train.py", kTrain);
  const int port = freeLoopbackPort();
  project.write("skiff.yaml", fmt::format(R"(name: browser
jobs:
  train:
    command: [/usr/bin/python3, train.py]
    env: {{MODE: fast}}
  flaky:
    command: [/bin/sh, -c, "echo trying; exit 3"]
    backoffLimit: 2
services:
  classifier:
    kind: serve
    modelRepository: file://{}/models
    port: {}
    poll: 1s
)",
                                          project.path().string(), port));
  for (int release = 1; release <= 2; ++release) {
    const auto released = runSkiff({"release", project.path().string(), "--wait"});
    // The flaky job fails the release: exit 1 with its reason.
    EXPECT_EQ(released.exitCode, 1) << released.out << released.err;
    EXPECT_NE(released.out.find("flaky Failed: main exited with code 3 (backoff limit 2 reached)"),
              std::string::npos)
        << released.out;
  }
  const std::string endpoint = fmt::format("http://127.0.0.1:{}", port);
  http::Client client;
  ASSERT_TRUE(waitFor(
      [&] {
        try {
          http::Request request;
          request.url = endpoint + "/v2/models/mlp/versions/2/ready";
          return client.send(request).status == 200;
        } catch (const std::exception&) {
          return false;
        }
      },
      std::chrono::seconds(30)))
      << "version 2 is served";

  // Traffic: most requests good, every fifth one an error.
  std::atomic<bool> stop{false};
  std::thread traffic([&] {
    http::Client sender;
    for (int i = 0; !stop; ++i) {
      http::Request request;
      request.method = "POST";
      request.url = endpoint + "/v2/models/mlp/infer";
      const std::string body = inferBody(i % 5 != 0);
      request.body = body;
      request.headers.push_back({"Content-Type", "application/json"});
      try {
        sender.send(request);
      } catch (const std::exception&) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });

  const int dashboardPort = freeLoopbackPort();
  TempDir work("skiff-dashboard-browser-run");
  SpawnOptions options;
  options.stderrFile = work / "dashboard.log";
  Subprocess dashboard({skiff::testing::skiffBinary(), "dashboard", project.path().string(),
                        "--port", std::to_string(dashboardPort)},
                       options);
  ASSERT_TRUE(
      waitFor([&] { return portAcceptsConnections(dashboardPort); }, std::chrono::seconds(20)));
  std::this_thread::sleep_for(std::chrono::seconds(5));  // two samples of the server under traffic

  SpawnOptions node;
  node.extraEnv = {{"NODE_PATH", SKIFF_NODE_MODULES}};
  const auto checked =
      runCommand({"node", SKIFF_BROWSER_CHECK, fmt::format("http://127.0.0.1:{}", dashboardPort),
                  SKIFF_SCREENSHOTS},
                 node);
  stop = true;
  traffic.join();
  ASSERT_EQ(checked.exitCode, 0) << checked.err << checked.out;
  const json page = json::parse(checked.out);
  SCOPED_TRACE(page.dump(1));
  EXPECT_EQ(page["consoleErrors"], json::array());

  // Rows: every run of both releases, newest first.
  ASSERT_EQ(page["runs"].size(), 5u);  // train x2, flaky x2, classifier (kept running)
  std::map<std::string, int> names;
  for (const auto& row : page["runs"]) ++names[row["name"].get<std::string>()];
  EXPECT_EQ(names["train"], 2);
  EXPECT_EQ(names["flaky"], 2);
  for (const auto& row : page["runs"]) {
    if (row["name"] == "flaky") {
      EXPECT_EQ(row["status"], "Failed");
      EXPECT_EQ(row["exit"], "3");
      EXPECT_EQ(row["restarts"], "2");
    }
  }
  // The chart: step ticks, the last of 30 values on hover, min/max/last.
  EXPECT_NE(page["hover"].get<std::string>().find("step 30"), std::string::npos);
  EXPECT_NE(page["hover"].get<std::string>().find("0.03333"), std::string::npos);
  EXPECT_NE(
      page["lossSummary"].get<std::string>().find("last 0.03333 · min 0.03333 · max 1 · 30 points"),
      std::string::npos);
  EXPECT_GE(page["lossTicks"].size(), 3u);
  // A metric that barely moves (0.950001 to 0.95003) still has tick labels
  // that tell its lines apart.
  const auto aucTicks = page["aucTicks"].get<std::vector<std::string>>();
  EXPECT_GE(aucTicks.size(), 3u) << page["aucTicks"];
  EXPECT_EQ(std::set<std::string>(aucTicks.begin(), aucTicks.end()).size(), aucTicks.size())
      << page["aucTicks"];
  EXPECT_EQ(page["singlePoint"]["circles"], 1);
  EXPECT_GT(page["singlePoint"]["box"]["width"].get<double>(), 4);
  EXPECT_NE(page["singlePoint"]["summary"].get<std::string>().find("last 0.92"), std::string::npos);
  EXPECT_EQ(page["smoothedLines"], 2) << "the smoothed line and the raw one behind it";
  // Comparison: both train runs side by side, loss overlaid.
  EXPECT_EQ(page["filteredRuns"], 2);
  EXPECT_EQ(page["compareHeads"].size(), 3u);
  EXPECT_NE(std::find(page["compareRows"].begin(), page["compareRows"].end(), "command"),
            page["compareRows"].end());
  EXPECT_EQ(page["overlaid"], 2);
  // The served version, linked to the run that wrote it, and back.
  bool linked = false;
  for (const auto& row : page["served"]) {
    if (row[0] == "mlp" && row[1] == "2") {
      EXPECT_EQ(row[2], "AVAILABLE");
      EXPECT_NE(row[3].get<std::string>().find("train run #"), std::string::npos);
      EXPECT_NE(row[3].get<std::string>().find("accuracy 0.92"), std::string::npos);
      linked = true;
    }
  }
  EXPECT_TRUE(linked);
  EXPECT_NE(page["runTitle"].get<std::string>().find("train (release 2)"), std::string::npos);
  EXPECT_NE(page["runArtifacts"].get<std::string>().find("mlp v2, served by classifier"),
            std::string::npos);
  EXPECT_NE(page["runParams"].get<std::string>().find("[\"MODE\"]"), std::string::npos);
  std::string healthTitles = page["healthCharts"].dump();
  EXPECT_NE(healthTitles.find("requests/s"), std::string::npos);
  EXPECT_NE(healthTitles.find("latency"), std::string::npos);
  EXPECT_NE(healthTitles.find("errors/s"), std::string::npos);
  // Restarts in words.
  ASSERT_EQ(page["flakyEvents"].size(), 3u);
  EXPECT_NE(page["flakyEvents"][0].get<std::string>().find("main exited with code 3; retry 1 of 2"),
            std::string::npos);
  // The narrow window: nothing wider than it.
  EXPECT_LE(page["narrow"]["scrollWidth"], page["narrow"]["clientWidth"]);
  EXPECT_EQ(page["narrow"]["wide"], json::array());
  EXPECT_EQ(dashboard.stop(), 0);

  // The history survives `skiff down`...
  ASSERT_EQ(runSkiff({"down", project.path().string()}).exitCode, 0);
  const auto listed = runSkiff({"runs", project.path().string(), "--json"});
  ASSERT_EQ(listed.exitCode, 0) << listed.err;
  auto history = json::parse(listed.out);
  ASSERT_EQ(history["runs"].size(), 5u) << history.dump();
  const auto listedTrain = runSkiff({"runs", project.path().string(), "--name", "train", "--json"});
  ASSERT_EQ(listedTrain.exitCode, 0) << listedTrain.err;
  const auto trainRuns = json::parse(listedTrain.out);
  ASSERT_EQ(trainRuns["runs"].size(), 2u);
  const json& newest = trainRuns["runs"][0];
  EXPECT_EQ(newest["params"]["command"], json({"/usr/bin/python3", "train.py"}));
  EXPECT_EQ(newest["params"]["env"], json({"MODE"}));
  EXPECT_EQ(newest["artifacts"][0]["model"], "mlp");
  EXPECT_EQ(newest["artifacts"][0]["version"], "2");
  EXPECT_EQ(newest["artifacts"][0]["uri"],
            fmt::format("file://{}/models/mlp/2/model.onnx", project.path().string()));
  const auto table = runSkiff({"status", project.path().string(), "--runs"});
  EXPECT_NE(table.out.find("wrote mlp v2"), std::string::npos) << table.out;

  // ... and a crashed supervisor: a release whose supervisor is killed.
  project.write("skiff.yaml",
                "name: browser\njobs:\n  sleeper:\n    command: [/bin/sleep, '60']\n");
  ASSERT_EQ(runSkiff({"release", project.path().string()}).exitCode, 0);
  const int supervisor = StateDb(project.path()).supervisorPid();
  ASSERT_GT(supervisor, 0);
  ASSERT_EQ(::kill(supervisor, SIGKILL), 0);
  ASSERT_TRUE(waitFor([&] { return ::kill(supervisor, 0) != 0; }, std::chrono::seconds(10)));
  const auto afterCrash = runSkiff({"status", project.path().string(), "--runs", "--json"});
  ASSERT_EQ(afterCrash.exitCode, 0) << afterCrash.err;
  history = json::parse(afterCrash.out);
  ASSERT_EQ(history["runs"].size(), 6u) << afterCrash.out << afterCrash.err;
  EXPECT_EQ(history["runs"][0]["name"], "sleeper");
  EXPECT_EQ(history["runs"][0]["status"], "Lost");
  runSkiff({"down", project.path().string()});
}

TEST(RunHistory, RetentionBoundsTheDatabase) {
  TempDir project("skiff-history");
  const auto fileSize = [&] {
    std::error_code ignored;
    return std::filesystem::file_size(project / ".skiff/state.db", ignored) +
           std::filesystem::file_size(project / ".skiff/state.db-wal", ignored);
  };
  StateDb state(project.path());
  uintmax_t sizeAfter10 = 0;
  for (int round = 1; round <= 30; ++round) {
    const int64_t release = state.addRelease();
    for (const char* name : {"train", "eval"}) {
      deploy::local::RunRecord run;
      run.releaseId = release;
      run.name = name;
      run.kind = "job";
      run.status = "Succeeded";
      run.started = deploy::local::nowSeconds();
      run.ended = run.started + 1;
      run.id = state.addRun(run);
      for (int step = 0; step < 100; ++step) {
        state.addMetric({run.id, "main", "loss", 1.0 / (step + 1), step, run.started});
      }
      state.addEvent({run.id, "main", run.ended, "main exited with code 0", 0});
    }
    state.pruneHistory(3);
    if (round == 10) sizeAfter10 = fileSize();
  }
  EXPECT_EQ(state.history({}).size(), 6u);
  EXPECT_EQ(state.history({"train", "", std::nullopt, 200}).size(), 3u);
  // Freed pages are reused: 20 more rounds do not grow the file by much.
  EXPECT_LT(fileSize(), sizeAfter10 * 3 / 2) << sizeAfter10;
}

TEST(RunHistory, ExitsAndArtifactsInWords) {
  using namespace deploy::local;
  EXPECT_EQ(describeExit(3), "exited with code 3");
  EXPECT_EQ(describeExit(137), "was killed by SIGKILL (exit code 137)");
  EXPECT_EQ(describeExit(143), "was stopped by SIGTERM (exit code 143)");
  EXPECT_EQ(describeExit(139), "crashed with SIGSEGV (exit code 139)");
  EXPECT_EQ(parseArtifactLine("skiff:artifact /models/iris/3/model.onnx \r"),
            "/models/iris/3/model.onnx");
  EXPECT_FALSE(parseArtifactLine("skiff:artifact   "));
  EXPECT_FALSE(parseArtifactLine("artifact x"));
  const std::vector<StorageRoot> roots = {{"/models", "file:///var/lib/iris/models"},
                                          {"/data", "az://account/data"}};
  EXPECT_EQ(artifactUri("/models/iris/3/model.onnx", roots),
            "file:///var/lib/iris/models/iris/3/model.onnx");
  EXPECT_EQ(artifactUri("/modelsx/a", roots), "file:///modelsx/a");
  EXPECT_EQ(artifactUri("relative/a", roots), "");
  const auto version = modelVersionOf("file:///var/lib/iris/models/iris/3/model.onnx",
                                      "file:///var/lib/iris/models/");
  ASSERT_TRUE(version);
  EXPECT_EQ(version->first, "iris");
  EXPECT_EQ(version->second, "3");
  EXPECT_FALSE(modelVersionOf("file:///var/lib/iris/models/iris/latest/model.onnx",
                              "file:///var/lib/iris/models"));
  EXPECT_FALSE(
      modelVersionOf("file:///elsewhere/iris/3/model.onnx", "file:///var/lib/iris/models"));
}

}  // namespace
}  // namespace skiff::dashboard
