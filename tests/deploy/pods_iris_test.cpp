// The iris example on a one-node cluster that runs pods (PodCluster):
// examples/iris/run.sh --target k8s on a copy of the example, run twice.
// The first run builds and pushes the images, trains in a Job's pod and
// serves from skiff's serve image; the second trains version N+1 while a
// client keeps asking the server (through `skiff proxy`, the API server's
// service proxy) for predictions: not one may fail.

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "harness/pod_cluster.hpp"
#include "harness/services.hpp"
#include "harness/temp_dir.hpp"
#include "http/http_client.hpp"

namespace skiff::testing {
namespace {

namespace fs = std::filesystem;

// A copy of examples/iris whose storage is this test's own; its image
// repository (localhost:5000) is the cluster's registry.
struct IrisOnCluster {
  TempDir root{"skiff-iris-k8s"};
  fs::path project = root / "iris";

  IrisOnCluster() {
    copyProject(fs::path(SKIFF_SOURCE_DIR) / "examples/iris", project);
    std::ifstream in(project / "skiff.yaml");
    std::string yaml((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    yaml = std::regex_replace(yaml, std::regex("/var/lib/skiff/iris"), (root / "store").string());
    std::ofstream(project / "skiff.yaml") << yaml;
  }

  CommandResult run() const {
    SpawnOptions options;
    options.extraEnv = PodCluster::shared().env();
    options.extraEnv["SKIFF"] = skiffBinary();
    return runCommand({(project / "run.sh").string(), "--target", "k8s"}, options);
  }
};

// `skiff proxy classifier` in the background; its first line is the URL.
class Proxy {
 public:
  explicit Proxy(const fs::path& project) {
    SpawnOptions options;
    options.extraEnv = PodCluster::shared().env();
    options.stdoutFile = dir_ / "url";
    options.stderrFile = dir_ / "log";
    process_ =
        std::make_unique<Subprocess>(std::vector<std::string>{skiffBinary(), "proxy", "classifier",
                                                              project.string(), "--target", "k8s"},
                                     options);
    for (int i = 0; i < 100 && url_.empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      std::ifstream in(dir_ / "url");
      std::getline(in, url_);
    }
    if (url_.empty()) throw std::runtime_error("skiff proxy did not print its URL");
  }
  const std::string& url() const { return url_; }

 private:
  TempDir dir_{"skiff-proxy"};
  std::unique_ptr<Subprocess> process_;
  std::string url_;
};

// GET of a dashboard's JSON API: the status code and the parsed body.
std::pair<std::string, nlohmann::json> dashboardApi(int port, const std::string& path) {
  const std::string response = httpGet(port, path);
  const auto body = response.find("\r\n\r\n");
  if (response.size() < 12 || body == std::string::npos) return {"", nullptr};
  return {response.substr(9, 3), nlohmann::json::parse(response.substr(body + 4), nullptr, false)};
}

std::string podsAndEvents() {
  const auto pods = PodCluster::shared().kubectl({"get", "pods,jobs,deployments", "-o", "wide"});
  const auto events = PodCluster::shared().kubectl({"get", "events"});
  return pods.out + pods.err + events.out + "\nkubelet:\n" + PodCluster::shared().log("kubelet");
}

// Whether a notebook pod's log says Jupyter runs (within a minute: it
// starts after the release is ready). Every notebook pod is looked at: one
// of an earlier rollout may still be terminating beside it.
bool notebookRunsJupyter() {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    const auto pods = PodCluster::shared().kubectl(
        {"get", "pods", "-l", "skiff.dev/entry=notebook", "-o", "name"});
    std::istringstream names(pods.out);
    for (std::string pod; std::getline(names, pod);) {
      const auto log = PodCluster::shared().kubectl({"logs", pod});
      if (log.out.find("Jupyter Notebook") != std::string::npos) return true;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  return false;
}

TEST(IrisOnCluster, RunTwiceServesTheNewVersionWithoutAFailedRequest) {
  IrisOnCluster iris;
  const auto first = iris.run();
  ASSERT_EQ(first.exitCode, 0) << first.out << first.err << podsAndEvents();
  EXPECT_NE(first.out.find("Job/iris-train"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("release "), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("5.1,3.5,1.4,0.2 -> setosa"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("6.7,3.0,5.2,2.3 -> virginica"), std::string::npos) << first.out;
  // The Job's pod wrote version 1 into the node's directory (file:// is hostPath).
  EXPECT_TRUE(fs::exists(iris.root / "store/models/iris/1/model.onnx"));
  EXPECT_NE(first.out.find("model iris version 1"), std::string::npos) << first.out;

  // The notebook pod runs Jupyter from the notebook image skiff built.
  EXPECT_TRUE(notebookRunsJupyter()) << podsAndEvents();

  Proxy proxy(iris.project);
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0};
  std::atomic<int> failed{0};
  std::string lastFailure;
  std::thread client([&] {
    http::Client http;
    const std::string body =
        R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]})";
    http::Request request;
    request.method = "POST";
    request.url = proxy.url() + "/v2/models/iris/infer";
    request.headers = {{"Content-Type", "application/json"}};
    request.body = body;
    while (!stop) {
      try {
        const auto response = http.send(request);
        if (response.status == 200) {
          ++answered;
        } else {
          ++failed;
          lastFailure = std::to_string(response.status) + " " + response.body;
        }
      } catch (const std::exception& e) {
        ++failed;
        lastFailure = e.what();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  const auto second = iris.run();
  stop = true;
  client.join();
  ASSERT_EQ(second.exitCode, 0) << second.out << second.err << podsAndEvents();
  // The unchanged image is reused; the Job runs again and trains version 2.
  EXPECT_NE(second.err.find("unchanged since the build"), std::string::npos) << second.err;
  EXPECT_TRUE(std::regex_search(second.out, std::regex("Job/iris-train +replaced"))) << second.out;
  EXPECT_NE(second.out.find("model iris version 2"), std::string::npos) << second.out;
  EXPECT_TRUE(fs::exists(iris.root / "store/models/iris/2/model.onnx"));
  EXPECT_GT(answered.load(), 20);
  EXPECT_EQ(failed.load(), 0) << "last failure: " << lastFailure;
  std::cout << answered.load() << " predictions answered through the API server during the "
            << "second run; cluster start " << PodCluster::shared().startSeconds() << " s\n";

  // A label set by API shows in `skiff status --target k8s`, asked of the
  // server through the API server's service proxy.
  http::Client http;
  http::Request label;
  label.method = "PUT";
  label.url = proxy.url() + "/v2/models/iris/labels/stable";
  label.headers = {{"Content-Type", "application/json"}};
  label.body = R"({"version": 2})";
  const auto labelled = http.send(label);
  ASSERT_EQ(labelled.status, 200) << labelled.body;
  const auto status =
      runSkiff({"status", "--target", "k8s", iris.project.string()}, PodCluster::shared().env());
  EXPECT_EQ(status.exitCode, 0) << status.err;
  EXPECT_NE(status.out.find("models: iris v2 (stable)"), std::string::npos) << status.out;
  const auto statusJson = runSkiff({"status", "--target", "k8s", "--json", iris.project.string()},
                                   PodCluster::shared().env());
  EXPECT_NE(statusJson.out.find("\"stable\""), std::string::npos) << statusJson.out;

  // The dashboard over the running release: its pods, their logs, the served versions.
  const int port = freeLoopbackPort();
  SpawnOptions options;
  options.extraEnv = PodCluster::shared().env();
  TempDir logDir{"skiff-dashboard"};
  options.stderrFile = logDir / "dashboard.log";
  Subprocess dashboard({skiffBinary(), "dashboard", "--target", "k8s", "--port",
                        std::to_string(port), iris.project.string()},
                       options);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!portAcceptsConnections(port)) {
    ASSERT_TRUE(dashboard.running()) << logDir.read("dashboard.log");
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const auto [statusCode, page] = dashboardApi(port, "/api/status");
  ASSERT_EQ(statusCode, "200") << page.dump();
  std::map<std::string, nlohmann::json> pods;
  for (const auto& pod : page["pods"]) pods[pod["entry"].get<std::string>()] = pod;
  ASSERT_TRUE(pods.count("services.classifier") && pods.count("jobs.train")) << page.dump(1);
  EXPECT_EQ(pods["services.classifier"]["phase"], "Running") << page.dump(1);
  EXPECT_EQ(pods["jobs.train"]["phase"], "Succeeded") << page.dump(1);
  const auto [logsCode, logs] = dashboardApi(port, "/api/logs?name=train");
  ASSERT_EQ(logsCode, "200") << logs.dump();
  EXPECT_NE(logs.dump().find("skiff:metric version=2"), std::string::npos) << logs.dump();
  const auto [modelsCode, models] = dashboardApi(port, "/api/models");
  ASSERT_EQ(modelsCode, "200") << models.dump();
  ASSERT_EQ(models["servers"].size(), 1u) << models.dump();
  std::set<std::string> versions;  // the ones served
  for (const auto& version : models["servers"][0]["models"]["iris"]) {
    if (version["state"] == "AVAILABLE") versions.insert(version["version"].get<std::string>());
  }
  EXPECT_TRUE(versions.count("2")) << models.dump(1);
}

}  // namespace
}  // namespace skiff::testing
