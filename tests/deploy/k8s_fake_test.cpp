// skiff release / status / logs --target k8s against the fake API server,
// for what the real one of k8s_target_test cannot show without a kubelet:
// pods that run and end (jobs that complete or fail, rollouts, crash loops,
// logs that stream), dropped and expired watches, the order and parameters
// of the requests, and a 422 that quotes a secret. The fake answers as
// kube-apiserver 1.20 does (lists without kind, 204 logs, 409 texts).

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "deploy/fake_apiserver.hpp"
#include "harness/services.hpp"
#include "harness/temp_dir.hpp"
#include "http/http_client.hpp"
#include "k8s_app.hpp"

namespace skiff::testing {
namespace {

using nlohmann::json;

using skiff::deploy::testing::kApp;

class K8sFakeTest : public ::testing::Test {
 protected:
  void start(FakeApiServer::Options options = {}) {
    server_ = std::make_unique<FakeApiServer>(options);
    kubeconfig_ = server_->writeKubeconfig().string();
  }

  CommandResult skiff(std::vector<std::string> args, const std::string& kubeconfig = {}) {
    args.insert(args.begin() + 1, {"--target", "k8s"});
    args.push_back(project_.path().string());
    return runSkiff(args, {{"KUBECONFIG", kubeconfig.empty() ? kubeconfig_ : kubeconfig},
                           {"SKIFF_TEST_DB_PASSWORD", "hunter2-secret"}});
  }

  // Releases `skiff_yaml` with --wait, which must fail with `expected` in the summary.
  void expectWaitFails(const std::string& skiffYaml, const std::string& timeoutSeconds,
                       const std::string& expected) {
    writeProject(project_, skiffYaml);
    const auto result = skiff({"release", "--wait", "--timeout", timeoutSeconds});
    EXPECT_EQ(result.exitCode, 1) << result.out << result.err;
    EXPECT_NE(result.out.find(expected), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("failed (see the states above)"), std::string::npos) << result.out;
  }

  // The PATCH (apply) requests the server saw, in order.
  std::vector<json> applies() {
    std::vector<json> patches;
    for (const auto& request : server_->requests()) {
      if (request["method"] == "PATCH") patches.push_back(request);
    }
    return patches;
  }

  TempDir project_{"skiff-k8s-project"};
  std::unique_ptr<FakeApiServer> server_;
  std::string kubeconfig_;
};

std::string both(const CommandResult& result) {
  return result.out + result.err;
}

TEST_F(K8sFakeTest, ReleaseAppliesSecretsFirstWithServerSideApply) {
  start();
  writeProject(project_, kApp);
  const auto first = skiff({"release"});
  ASSERT_EQ(first.exitCode, 0) << both(first);
  EXPECT_NE(first.out.find("Secret/app-db       created"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("namespace team"), std::string::npos) << first.out;
  const auto patches = applies();
  ASSERT_EQ(patches.size(), 4u);
  EXPECT_EQ(patches[0]["path"], "/api/v1/namespaces/team/secrets/app-db");
  EXPECT_EQ(patches[1]["path"], "/api/v1/namespaces/team/services/app-api");
  EXPECT_EQ(patches[2]["path"], "/apis/apps/v1/namespaces/team/deployments/app-api");
  EXPECT_EQ(patches[3]["path"], "/apis/batch/v1/namespaces/team/jobs/app-train");
  for (const auto& patch : patches) {
    EXPECT_EQ(patch["contentType"], "application/apply-patch+yaml");
    EXPECT_EQ(patch["query"]["fieldManager"], "skiff");
    EXPECT_FALSE(patch["query"].contains("force")) << "force only with --force-conflicts";
  }
  EXPECT_EQ(first.out.find("hunter2-secret"), std::string::npos);

  const auto again = skiff({"release"});
  ASSERT_EQ(again.exitCode, 0) << both(again);
  EXPECT_NE(again.out.find("Job/app-train       configured"), std::string::npos) << again.out;
}

TEST_F(K8sFakeTest, AFailedJobFailsTheReleaseWithTheJobsReason) {
  start();
  expectWaitFails("name: app\njobs:\n  bad: {command: \"echo no; exit 1\"}\n", "60",
                  "failed: BackoffLimitExceeded: Job has reached the specified backoff limit");
}

TEST_F(K8sFakeTest, WaitGivesUpOnACrashLoopingServiceBeforeTheTimeout) {
  start();
  const auto started = std::chrono::steady_clock::now();
  expectWaitFails("name: app\nservices:\n  api: {command: \"crash now\"}\n", "60",
                  "CrashLoopBackOff: back-off 40s");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30));
}

TEST_F(K8sFakeTest, ARolloutPastItsDeadlineFails) {
  start();
  expectWaitFails("name: app\nservices:\n  api: {command: \"serve; exit 1\"}\n", "60",
                  "failed: ProgressDeadlineExceeded");
}

TEST_F(K8sFakeTest, ADroppedWatchResumesFromItsResourceVersion) {
  FakeApiServer::Options options;
  options.dropWatches = 2;
  options.jobSeconds = 1;
  start(options);
  writeProject(project_, kApp);
  const auto result = skiff({"release", "--wait", "--timeout", "30"});
  ASSERT_EQ(result.exitCode, 0) << both(result);
  EXPECT_NE(result.out.find("complete (1 succeeded)"), std::string::npos) << result.out;
  int watches = 0;
  for (const auto& request : server_->requests()) {
    if (request["query"].value("watch", "") == "1") {
      ++watches;
      EXPECT_FALSE(request["query"].value("resourceVersion", "").empty()) << request;
    }
  }
  EXPECT_GE(watches, 3) << "two dropped watches and the one that saw the end";
}

TEST_F(K8sFakeTest, AnExpiredWatchListsAgain) {
  FakeApiServer::Options options;
  options.expireWatches = 1;
  options.jobSeconds = 1;
  start(options);
  writeProject(project_, "name: app\njobs:\n  train: {command: [python3, train.py]}\n");
  const auto result = skiff({"release", "--wait", "--timeout", "30"});
  ASSERT_EQ(result.exitCode, 0) << both(result);
  EXPECT_NE(result.out.find("complete (1 succeeded)"), std::string::npos) << result.out;
  int lists = 0;
  for (const auto& request : server_->requests()) {
    if (request["path"] == "/apis/batch/v1/namespaces/team/jobs" &&
        !request["query"].contains("watch")) {
      ++lists;
    }
  }
  EXPECT_EQ(lists, 2) << "the list before the watch, and again after 410 Gone: "
                      << server_->requests().dump(1);
}

TEST_F(K8sFakeTest, StatusAndLogsReadTheCluster) {
  FakeApiServer::Options options;
  options.jobSeconds = 1.5;
  start(options);
  writeProject(project_, kApp);
  ASSERT_EQ(skiff({"release"}).exitCode, 0);
  // Followed, the log streams until the job's container ends.
  const auto followed = skiff({"logs", "train", "-f"});
  ASSERT_EQ(followed.exitCode, 0) << both(followed);
  EXPECT_NE(followed.out.find("step 1 of 2\nstep 2 of 2: done\n"), std::string::npos)
      << followed.out;

  const auto all = skiff({"logs", ""});
  ASSERT_EQ(all.exitCode, 0) << both(all);
  EXPECT_NE(all.out.find("] step 2 of 2: done"), std::string::npos) << all.out;
  EXPECT_NE(all.out.find("[app-api-1-1] app-api-1-1 serving"), std::string::npos) << all.out;

  const auto status = skiff({"status"});
  ASSERT_EQ(status.exitCode, 0) << both(status);
  EXPECT_NE(status.out.find("complete (1 succeeded)"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("2/2 ready"), std::string::npos) << status.out;

  const auto unknown = skiff({"logs", "trian"});
  EXPECT_EQ(unknown.exitCode, 1);
  EXPECT_NE(unknown.err.find("did you mean \"train\""), std::string::npos) << unknown.err;
}

// `skiff dashboard --target k8s` reaches each `skiff serve` through the API
// server's service proxy: here a real `skiff serve` stands in for the
// Service's pods (the real API server of k8s_target_test has no endpoints to
// proxy to without a kubelet, and says so there). Its versions and health
// charts come through the proxy with the kubeconfig's credentials.
TEST_F(K8sFakeTest, TheDashboardReadsServedModelsThroughTheServiceProxy) {
  start();
  TempDir models("skiff-k8s-models");
  const auto made = runCommand({"/usr/bin/python3", SKIFF_MAKE_MODELS, (models / "made").string()});
  ASSERT_EQ(made.exitCode, 0) << made.err;
  std::filesystem::create_directories(models / "repo/mlp/1");
  std::filesystem::copy_file(models / "made/mlp.onnx", models / "repo/mlp/1/model.onnx");
  const ServeProcess serve((models / "repo").string());
  writeProject(project_, std::string(kApp) +
                             "  classifier: {kind: serve, modelRepository: 'file:///models', "
                             "port: 8500}\n");
  ASSERT_EQ(skiff({"release"}).exitCode, 0);
  server_->control("proxy", {{"service", "app-classifier"}, {"port", serve.port()}});

  const int port = freeLoopbackPort();
  SpawnOptions options;
  options.extraEnv = {{"KUBECONFIG", kubeconfig_}};
  options.stderrFile = models / "dashboard.log";
  Subprocess dashboard({skiffBinary(), "dashboard", "--target", "k8s", "--port",
                        std::to_string(port), project_.path().string()},
                       options);
  ASSERT_TRUE(waitFor([&] { return portAcceptsConnections(port); }, std::chrono::seconds(20)))
      << models.read("dashboard.log");

  // Requests to the model while the dashboard samples it through the proxy.
  std::atomic<bool> stop{false};
  std::thread traffic([&] {
    http::Client client;
    http::Request request;
    request.method = "POST";
    request.url = serve.endpoint() + "/v2/models/mlp/infer";
    request.headers.push_back({"Content-Type", "application/json"});
    request.body = R"({"inputs":[{"name":"x","shape":[1,16],"datatype":"FP32","data":[)"
                   R"(0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]}]})";
    while (!stop) {
      client.send(request);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  json models_;
  const bool charted = waitFor(
      [&] {
        const std::string response = httpGet(port, "/api/models");
        models_ = json::parse(response.substr(response.find("\r\n\r\n") + 4), nullptr, false);
        const json health = models_.value("/servers/0/health/mlp/1"_json_pointer, json::array());
        return !health.empty() && health.back().value("requestsPerSecond", 0.0) > 0;
      },
      std::chrono::seconds(30));
  stop = true;
  traffic.join();
  ASSERT_TRUE(charted) << models_.dump(1) << models.read("dashboard.log");
  const json& classifier = models_["servers"][0];
  EXPECT_EQ(classifier["name"], "classifier");
  EXPECT_EQ(classifier["models"]["mlp"][0]["version"], "1") << classifier.dump(1);
  EXPECT_EQ(classifier["models"]["mlp"][0]["state"], "AVAILABLE") << classifier.dump(1);
  EXPECT_FALSE(classifier.contains("error")) << classifier.dump(1);
  EXPECT_EQ(classifier["href"], "") << "the proxy needs the cluster's credentials: no link";
  bool proxied = false;
  for (const auto& request : server_->requests()) {
    const std::string path = request["path"];
    proxied |= path.find("/services/app-classifier:http/proxy/metrics") != std::string::npos;
  }
  EXPECT_TRUE(proxied) << "read through the service proxy";
}

TEST_F(K8sFakeTest, FollowingLogsWaitsForThePodToAppearAndStart) {
  FakeApiServer::Options options;
  options.podSeconds = 3;    // room for `skiff logs` to run before, on a busy machine
  options.startSeconds = 2;  // then Pending: its log is 204 No Content
  options.jobSeconds = 7;
  start(options);
  writeProject(project_, "name: app\njobs:\n  train: {command: [python3, train.py]}\n");
  ASSERT_EQ(skiff({"release"}).exitCode, 0);
  const auto early = skiff({"logs", "train"});
  EXPECT_EQ(early.exitCode, 1) << "without -f, no pod yet is an error";
  EXPECT_NE(early.err.find("no pods of app train yet"), std::string::npos) << early.err;
  const auto followed = skiff({"logs", "train", "-f"});
  ASSERT_EQ(followed.exitCode, 0) << both(followed);
  EXPECT_NE(followed.out.find("step 1 of 2\nstep 2 of 2: done"), std::string::npos) << followed.out;
  EXPECT_NE(followed.err.find("has not started: not scheduled"), std::string::npos) << followed.err;
  EXPECT_NE(followed.err.find("waiting for it"), std::string::npos) << followed.err;
}

TEST_F(K8sFakeTest, WaitReportsFinishedJobsAndRollouts) {
  start();
  writeProject(project_, kApp);
  const auto result = skiff({"release", "--wait", "--timeout", "30"});
  ASSERT_EQ(result.exitCode, 0) << both(result);
  EXPECT_NE(result.out.find("complete (1 succeeded)"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("2/2 ready"), std::string::npos) << result.out;
}

TEST_F(K8sFakeTest, AFieldOwnedByAnotherManagerIs409UnlessForced) {
  start();
  writeProject(project_, kApp);
  ASSERT_EQ(skiff({"release"}).exitCode, 0);
  // Someone scales the deployment by hand: kubectl owns .spec.replicas now.
  server_->control("seed?manager=kubectl-scale",
                   {{"apiVersion", "apps/v1"},
                    {"kind", "Deployment"},
                    {"metadata", {{"name", "app-api"}, {"namespace", "team"}}},
                    {"spec", {{"replicas", 5}}}});
  const auto refused = skiff({"release"});
  EXPECT_EQ(refused.exitCode, 1);
  EXPECT_NE(refused.err.find("409 Conflict"), std::string::npos) << refused.err;
  // An Update's manager is named with its apiVersion, as the real server does.
  EXPECT_NE(refused.err.find("Apply failed with 1 conflict: conflict with \"kubectl-scale\" "
                             "using apps/v1: .spec.replicas"),
            std::string::npos)
      << refused.err;
  EXPECT_NE(refused.err.find("--force-conflicts"), std::string::npos) << refused.err;
  EXPECT_NE(refused.out.find("stopped at an error (2 of 4 objects applied)"), std::string::npos)
      << refused.out;

  const auto forced = skiff({"release", "--force-conflicts"});
  ASSERT_EQ(forced.exitCode, 0) << both(forced);
  EXPECT_EQ(applies().back()["query"]["force"], "true");
}

TEST_F(K8sFakeTest, AnInvalidObjectIs422WithItsFieldAndNoSecretValue) {
  start();
  writeProject(project_, kApp);
  server_->control("reject", {{"plural", "secrets"},
                              {"name", "app-db"},
                              {"field", "data[DB]"},
                              {"message", "Invalid value: \"hunter2-secret\": too weak"}});
  const auto result = skiff({"release"});
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_NE(result.err.find("422 Invalid"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("data[DB]: Invalid value: \"<redacted>\""), std::string::npos)
      << result.err;
  EXPECT_EQ(both(result).find("hunter2-secret"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace skiff::testing
