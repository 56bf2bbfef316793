// skiff dashboard: its JSON API over a project's recorded runs, metrics and
// logs, the model versions of a live `skiff serve`, and its page, run in
// jsdom against a live `skiff dashboard`.

#include "dashboard/dashboard.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/subprocess.hpp"
#include "deploy/local/state.hpp"
#include "harness/services.hpp"
#include "harness/temp_dir.hpp"
#include "http/http_client.hpp"

namespace skiff::dashboard {
namespace {

using deploy::local::MetricRecord;
using deploy::local::ReplicaRecord;
using deploy::local::RunRecord;
using deploy::local::StateDb;
using nlohmann::json;
using skiff::testing::TempDir;

using skiff::testing::waitFor;

// A project whose state records a finished training job with a loss curve
// and a log, and a failed service.
class DashboardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    project_.write("skiff.yaml", "name: dash\njobs:\n  train:\n    command: [true]\n");
    StateDb state(project_.path());
    const int64_t release = state.addRelease();
    RunRecord train;
    train.releaseId = release;
    train.name = "train";
    train.kind = "job";
    train.status = "Succeeded";
    train.exitCode = 0;
    train.started = deploy::local::nowSeconds() - 5;
    train.ended = train.started + 4;
    train.id = state.addRun(train);
    ReplicaRecord replica;
    replica.runId = train.id;
    replica.replica = "main";
    replica.status = "Succeeded";
    replica.exitCode = 0;
    replica.logPath = project_.write("train.log", "epoch 1\nepoch 2\nepoch 3 <done>\n").string();
    state.addReplica(replica);
    for (int step = 1; step <= 3; ++step) {
      state.addMetric({train.id, "main", "loss", 1.0 / step, step, train.started + step});
    }
    RunRecord api;
    api.releaseId = release;
    api.name = "api";
    api.kind = "service";
    api.status = "Failed";
    api.message = "main exited with code 3";
    serviceId_ = state.addRun(api);
  }

  json getJson(Dashboard& dashboard, const std::string& target, int status = 200) {
    const auto reply = dashboard.handle({"GET", target, "", "", "127.0.0.1:8080"});
    EXPECT_EQ(reply.status, status) << target << ": " << reply.body;
    EXPECT_EQ(reply.contentType, "application/json");
    return json::parse(reply.body);
  }

  TempDir project_{"skiff-dashboard"};
  int64_t serviceId_ = 0;
};

TEST_F(DashboardTest, StatusMetricsAndLogsComeFromTheRecordedState) {
  Dashboard dashboard(project_.path());
  const json status = getJson(dashboard, "/api/status");
  ASSERT_EQ(status["runs"].size(), 2u);
  std::map<std::string, json> runs;
  for (const auto& run : status["runs"]) runs[run["name"]] = run;
  EXPECT_EQ(runs["train"]["status"], "Succeeded");
  EXPECT_EQ(runs["train"]["metrics"]["loss"], 1.0 / 3);
  EXPECT_EQ(runs["api"]["message"], "main exited with code 3");

  const json metrics = getJson(dashboard, "/api/metrics");
  json loss;
  for (const auto& run : metrics["runs"]) {
    if (run["name"] == "train") loss = run["metrics"]["loss"];
  }
  ASSERT_EQ(loss.size(), 3u) << metrics.dump();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(loss[i]["x"], i + 1);
    EXPECT_DOUBLE_EQ(loss[i]["value"].get<double>(), 1.0 / (i + 1));
  }

  const json logs = getJson(dashboard, "/api/logs?name=train&lines=2");
  EXPECT_EQ(logs["replicas"]["main"], json({"epoch 2", "epoch 3 <done>"}));
  // Query values are percent-decoded (as encodeURIComponent writes them).
  EXPECT_EQ(getJson(dashboard, "/api/logs?name=tr%61in&lines=%32")["replicas"]["main"].size(), 2u);
}

TEST_F(DashboardTest, BadRequestsSayWhatIsWrong) {
  Dashboard dashboard(project_.path());
  const json unknown = getJson(dashboard, "/api/logs?name=trian", 404);
  EXPECT_NE(unknown["error"].get<std::string>().find("known: api, train"), std::string::npos)
      << unknown.dump();
  EXPECT_NE(getJson(dashboard, "/api/logs", 400)["error"].get<std::string>().find("name=NAME"),
            std::string::npos);
  EXPECT_NE(
      getJson(dashboard, "/api/logs?name=train&lines=many", 400)["error"].get<std::string>().find(
          "lines=many"),
      std::string::npos);
  getJson(dashboard, "/api/nothing", 404);
  EXPECT_EQ(dashboard.handle({"POST", "/api/status", "{}", "", "localhost:8080"}).status, 405);
  const auto page = dashboard.handle({"GET", "/", "", "", "[::1]:8080"});
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.contentType, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("<title>skiff dashboard</title>"), std::string::npos);
}

TEST_F(DashboardTest, RequestsForOtherHostsAreRefused) {
  // A page elsewhere that rebinds its own name to 127.0.0.1 must not read the
  // status (it holds the notebook's login URL).
  Dashboard dashboard(project_.path());
  const auto refused = dashboard.handle({"GET", "/api/status", "", "", "evil.example:8080"});
  EXPECT_EQ(refused.status, 403);
  EXPECT_NE(refused.body.find("evil.example"), std::string::npos) << refused.body;
  Dashboard everywhere(project_.path(), "0.0.0.0");
  EXPECT_EQ(everywhere.handle({"GET", "/api/status", "", "", "box.lan:8080"}).status, 200);
  Dashboard named(project_.path(), "10.1.2.3");
  EXPECT_EQ(named.handle({"GET", "/api/status", "", "", "10.1.2.3:8080"}).status, 200);
  EXPECT_EQ(named.handle({"GET", "/api/status", "", "", "other:8080"}).status, 403);
  // Host names compare without case, as browsers and RFC 9110 do.
  EXPECT_EQ(dashboard.handle({"GET", "/api/status", "", "", "LOCALHOST:8080"}).status, 200);
  EXPECT_EQ(dashboard.handle({"GET", "/api/status", "", "", "LocalHost"}).status, 200);
  Dashboard upper(project_.path(), "box.example");
  EXPECT_EQ(upper.handle({"GET", "/api/status", "", "", "BOX.Example:8080"}).status, 200);
  EXPECT_EQ(upper.handle({"GET", "/api/status", "", "", "EVIL.example:8080"}).status, 403);
}

TEST_F(DashboardTest, ServedModelVersionsComeFromTheLiveServer) {
  // A real `skiff serve` with versions 1 and 2 of the MLP of make_models.py,
  // labelled by config.yaml and by its API.
  TempDir models("skiff-dashboard-models");
  testing::writeMlpRepository(models / "repo", SKIFF_MAKE_MODELS, {"1", "2"},
                              "version_policy: all\nlabels: {stable: 1, canary: 2}\n");
  const testing::ServeProcess serve((models / "repo").string());
  const std::string endpoint = serve.endpoint();
  http::Client client;
  http::Request label;
  label.method = "PUT";
  label.url = endpoint + "/v2/models/mlp/labels/next";
  label.body = R"({"version": 2})";
  ASSERT_EQ(client.send(label).status, 200);
  {
    StateDb state(project_.path());
    RunRecord server;
    server.releaseId = *state.latestRelease();
    server.name = "classifier";
    server.kind = "serve";
    server.status = "Ready";
    server.endpoint = endpoint;
    state.addRun(server);
    RunRecord gone = server;
    gone.name = "old-classifier";
    gone.endpoint = fmt::format("http://127.0.0.1:{}", freeLoopbackPort());  // nothing listens
    state.addRun(gone);
  }
  Dashboard dashboard(project_.path());
  const json answer = getJson(dashboard, "/api/models");
  std::map<std::string, json> servers;
  for (const auto& server : answer["servers"]) servers[server["name"]] = server;
  ASSERT_EQ(servers.size(), 2u) << answer.dump();
  std::map<std::string, json> versions;
  for (const auto& version : servers["classifier"]["models"]["mlp"]) {
    versions[version["version"]] = version;
  }
  ASSERT_EQ(versions.size(), 2u) << answer.dump();
  EXPECT_EQ(versions["1"], json::parse(R"({"version": "1", "state": "AVAILABLE",
                                            "labels": ["stable"], "message": "", "run": null})"))
      << "no recorded run wrote this version";
  EXPECT_EQ(versions["2"]["labels"], json::parse(R"(["canary", "next"])")) << answer.dump();
  EXPECT_TRUE(servers["old-classifier"].contains("error")) << answer.dump();

  // The page shows the labels beside each version.
  const int port = freeLoopbackPort();
  SpawnOptions options;
  options.stderrFile = models / "dashboard.log";
  Subprocess page({skiff::testing::skiffBinary(), "dashboard", project_.path().string(), "--port",
                   std::to_string(port)},
                  options);
  ASSERT_TRUE(waitFor([&] { return portAcceptsConnections(port); }, std::chrono::seconds(20)));
  SpawnOptions node;
  node.extraEnv = {{"NODE_PATH", SKIFF_NODE_MODULES}};
  const auto rendered =
      runCommand({"node", SKIFF_RENDER_PAGE, fmt::format("http://127.0.0.1:{}", port)}, node);
  ASSERT_EQ(rendered.exitCode, 0) << rendered.err;
  std::map<std::string, std::string> labelCells;  // version -> its labels cell
  const json shown = json::parse(rendered.out);
  for (const auto& row : shown["models"]) {
    if (row.size() >= 5 && row[0] == "mlp") {
      labelCells[row[1].get<std::string>()] = row[4].get<std::string>();
    }
  }
  EXPECT_EQ(labelCells["1"], "stable") << rendered.out;
  EXPECT_EQ(labelCells["2"], "canary, next") << rendered.out;
  EXPECT_EQ(page.stop(), 0);
}

TEST_F(DashboardTest, ThePageRendersRunsChartsAndLogsInABrowserDom) {
  const int port = freeLoopbackPort();
  TempDir work("skiff-dashboard-run");
  SpawnOptions options;
  options.stderrFile = work / "dashboard.log";
  Subprocess dashboard({skiff::testing::skiffBinary(), "dashboard", project_.path().string(),
                        "--port", std::to_string(port)},
                       options);
  const std::string base = fmt::format("http://127.0.0.1:{}", port);
  ASSERT_TRUE(waitFor([&] { return portAcceptsConnections(port); }, std::chrono::seconds(20)));

  SpawnOptions node;
  node.extraEnv = {{"NODE_PATH", SKIFF_NODE_MODULES}};
  const auto rendered = runCommand({"node", SKIFF_RENDER_PAGE, base, "train"}, node);
  ASSERT_EQ(rendered.exitCode, 0) << rendered.err;
  const json page = json::parse(rendered.out);
  EXPECT_EQ(page["errors"], json::array());
  EXPECT_EQ(page["updated"].get<std::string>().rfind("updated", 0), 0u) << page.dump();
  ASSERT_EQ(page["runs"].size(), 2u) << page.dump();
  std::map<std::string, json> rows;
  for (const auto& row : page["runs"]) rows[row[0]] = row;
  EXPECT_EQ(rows["train"][2], "Succeeded");
  EXPECT_EQ(rows["train"][3], "0");
  EXPECT_EQ(rows["api"][2], "Failed");
  EXPECT_EQ(rows["api"][8], "main exited with code 3");
  ASSERT_EQ(page["charts"].size(), 1u) << page.dump();
  EXPECT_EQ(page["charts"][0]["points"], 3);
  EXPECT_NE(page["charts"][0]["title"].get<std::string>().find("train loss"), std::string::npos);
  // Log text is shown as text: the "<done>" of the log is not markup.
  EXPECT_NE(page["logs"].get<std::string>().find("epoch 3 <done>"), std::string::npos)
      << page.dump();

  EXPECT_EQ(dashboard.stop(), 0) << "SIGTERM stops the dashboard cleanly";
}

}  // namespace
}  // namespace skiff::dashboard
