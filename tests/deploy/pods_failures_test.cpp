// The failures a user meets on a real cluster (PodCluster), each with the
// message `skiff release --wait --target k8s` prints and its exit code: a
// missing image tag, a job that exits 1 (and its retries), a container over
// its memory limit, a pod asking for more CPU than the node has, and a serve
// version that fails to load while the previous one keeps serving.

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "harness/pod_cluster.hpp"
#include "harness/services.hpp"
#include "harness/temp_dir.hpp"
#include "http/http_client.hpp"

namespace skiff::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// A project of these tests, in a namespace skiff-fail-TEST-PID.
class FailureProject : public ClusterProject {
 public:
  FailureProject(const std::string& test, const std::string& yaml)
      : ClusterProject("fail", test, yaml) {}
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(PodFailures, AMissingImageTagIsAnImagePullErrorNamingTheImage) {
  FailureProject project("image", R"(name: noimage
image:
  repository: localhost:5000/skiff-test-failures
services:
  api:
    command: [sh, -c, "sleep 3600"]
    image: localhost:5000/skiff-test-failures:no-such-tag
)");
  const auto build = project.build();
  ASSERT_EQ(build.exitCode, 0) << build.err;
  const auto started = Clock::now();
  const std::string out = project.releaseFails("120");
  EXPECT_TRUE(contains(out, "ErrImagePull") || contains(out, "ImagePullBackOff"))
      << out << project.cluster();
  EXPECT_TRUE(contains(out, "localhost:5000/skiff-test-failures:no-such-tag")) << out;
  // Found by the pod check, not at the timeout.
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(100)) << out;
  const auto status = project.skiff({"status"});
  std::cout << status.out;
  EXPECT_TRUE(contains(status.out, "ErrImagePull") || contains(status.out, "ImagePullBackOff"))
      << status.out << status.err;
}

TEST(PodFailures, AJobThatExitsOneShowsItsExitCodeLastLinesAndRetries) {
  FailureProject project("exit", R"(name: exits
image:
  repository: localhost:5000/skiff-test-failures
jobs:
  train:
    command: [sh, -c, "echo reading the data; echo 'train: no rows in /data/iris.csv' >&2; exit 1"]
    backoffLimit: 1
)");
  const auto build = project.build();
  ASSERT_EQ(build.exitCode, 0) << build.err;
  const std::string out = project.releaseFails("180");
  EXPECT_TRUE(contains(out, "failed: BackoffLimitExceeded")) << out;
  EXPECT_TRUE(contains(out, "2 pods tried")) << out;
  EXPECT_TRUE(contains(out, "exit code 1 (Error)")) << out;
  EXPECT_TRUE(contains(out, "train: no rows in /data/iris.csv")) << out;
  EXPECT_TRUE(contains(out, "reading the data")) << out;
  EXPECT_EQ(project.pods("jobs.train"), 2u) << project.cluster();  // backoffLimit 1: two tries
  const auto status = project.skiff({"status"});
  std::cout << status.out;
  EXPECT_TRUE(contains(status.out, "last exit 1 (Error)")) << status.out << status.err;
  EXPECT_TRUE(contains(status.out, "Failed")) << status.out;
}

TEST(PodFailures, AContainerOverItsMemoryLimitIsOOMKilled) {
  FailureProject project("oom", R"(name: oom
image:
  repository: localhost:5000/skiff-test-failures
jobs:
  train:
    command: [sh, -c, 'echo allocating; x=$(head -c 200000000 /dev/zero | tr "\0" a); echo ${#x}']
    resources: {memory: 32Mi}
)");
  const auto build = project.build();
  ASSERT_EQ(build.exitCode, 0) << build.err;
  const std::string out = project.releaseFails("180");
  EXPECT_TRUE(contains(out, "exit code 137 (OOMKilled)")) << out << project.cluster();
  const auto status = project.skiff({"status"});
  std::cout << status.out;
  EXPECT_TRUE(contains(status.out, "OOMKilled")) << status.out << status.err;
}

TEST(PodFailures, APodAskingForMoreCpuThanTheNodeHasIsUnschedulable) {
  FailureProject project("cpu", R"(name: bigcpu
image:
  repository: localhost:5000/skiff-test-failures
jobs:
  train:
    command: [sh, -c, "echo never runs"]
    resources: {cpu: 1000}
)");
  const auto build = project.build();
  ASSERT_EQ(build.exitCode, 0) << build.err;
  const auto started = Clock::now();
  const std::string out = project.releaseFails("20");
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(60)) << out;
  EXPECT_TRUE(contains(out, "timed out after 20s")) << out;
  EXPECT_TRUE(contains(out, "Unschedulable")) << out;
  EXPECT_TRUE(contains(out, "Insufficient cpu")) << out;
  const auto status = project.skiff({"status"});
  std::cout << status.out;
  EXPECT_TRUE(contains(status.out, "Insufficient cpu")) << status.out << status.err;
}

// `skiff proxy NAME` in the background; its first line is the URL.
class Proxy {
 public:
  Proxy(const FailureProject& project, const std::string& name) {
    SpawnOptions options;
    options.extraEnv = project.env();
    options.stdoutFile = dir_ / "url";
    options.stderrFile = dir_ / "log";
    process_ = std::make_unique<Subprocess>(
        std::vector<std::string>{skiffBinary(), "proxy", name, project.path().string(), "--target",
                                 "k8s", "--namespace", project.ns()},
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

TEST(PodFailures, AServeVersionThatFailsToLoadLeavesThePreviousOneServing) {
  TempDir models{"skiff-failure-models"};
  const auto made =
      runCommand({"/usr/bin/python3", std::string(SKIFF_SOURCE_DIR) + "/tests/serve/make_models.py",
                  (models / "made").string()});
  ASSERT_EQ(made.exitCode, 0) << made.err;
  fs::create_directories(models / "repo/add/1");
  fs::copy_file(models / "made/add_v1.onnx", models / "repo/add/1/model.onnx");
  FailureProject project("serve", R"(name: badmodel
image:
  repository: localhost:5000/skiff-test-failures
services:
  server:
    kind: serve
    modelRepository: file://)" + (models / "repo").string() +
                                      R"(
    poll: 1s
)");
  const auto build = project.build();
  ASSERT_EQ(build.exitCode, 0) << build.out << build.err;
  const auto release = project.release("180");
  ASSERT_EQ(release.exitCode, 0) << release.out << release.err << project.cluster();

  // Version 2 arrives corrupt.
  fs::create_directories(models / "repo/add/2");
  std::ofstream(models / "repo/add/2/model.onnx") << "this is not an ONNX model";

  Proxy proxy(project, "server");
  http::Client http;
  http::Request get;
  get.method = "GET";
  get.url = proxy.url() + "/v1/models/add";
  std::string status;
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline) {
    const auto response = http.send(get);
    status = std::to_string(response.status) + " " + response.body;
    if (contains(response.body, "\"UNAVAILABLE\"")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  const auto versions = nlohmann::json::parse(status.substr(status.find(' ') + 1), nullptr, false);
  std::cout << status << "\n";
  ASSERT_TRUE(versions.contains("model_version_status")) << status;
  std::map<std::string, nlohmann::json> byVersion;
  for (const auto& entry : versions["model_version_status"]) byVersion[entry["version"]] = entry;
  ASSERT_TRUE(byVersion.count("1") && byVersion.count("2")) << status;
  EXPECT_EQ(byVersion["1"]["state"], "AVAILABLE") << status;
  EXPECT_EQ(byVersion["2"]["state"], "END") << status;
  EXPECT_EQ(byVersion["2"]["status"]["error_code"], "UNAVAILABLE") << status;
  EXPECT_TRUE(
      contains(byVersion["2"]["status"]["error_message"].get<std::string>(), "add/2/model.onnx"))
      << status;

  // Version 1 still answers.
  http::Request infer;
  infer.method = "POST";
  infer.url = proxy.url() + "/v2/models/add/infer";
  infer.headers = {{"Content-Type", "application/json"}};
  infer.body = R"({"inputs":[{"name":"x","shape":[2,3],"datatype":"FP32","data":[1,2,3,4,5,6]}]})";
  const auto answer = http.send(infer);
  EXPECT_EQ(answer.status, 200) << answer.body;
  EXPECT_TRUE(contains(answer.body, "\"model_version\":\"1\"")) << answer.body;
  EXPECT_TRUE(contains(answer.body, "[2.0,4.0,6.0,5.0,7.0,9.0]") ||
              contains(answer.body, "[2,4,6,5,7,9]"))
      << answer.body;

  // The pod itself is fine: the release stays ready.
  const auto again = project.release("60");
  EXPECT_EQ(again.exitCode, 0) << again.out << again.err;
}

}  // namespace
}  // namespace skiff::testing
