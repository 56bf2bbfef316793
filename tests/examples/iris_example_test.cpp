// The README's main job in CI: examples/iris/run.sh on a copy of the example
// (its storage in a temp dir, free ports), run twice. The second run trains
// version 2 while a client keeps asking the server for predictions: the
// server must move from version 1 to version 2 without one failed request.

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <thread>

#include "harness/services.hpp"
#include "harness/temp_dir.hpp"
#include "http/http_client.hpp"

namespace skiff::testing {
namespace {

namespace fs = std::filesystem;

void replaceAll(std::string& text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

// A copy of examples/iris whose storage and ports are this test's own.
struct IrisCopy {
  TempDir root{"skiff-iris"};
  fs::path project = root / "iris";
  int serverPort = freeLoopbackPort();

  IrisCopy() {
    // Never the running example's .skiff/ (README: run.sh leaves it running).
    copyProject(fs::path(SKIFF_SOURCE_DIR) / "examples/iris", project);
    std::ifstream in(project / "skiff.yaml");
    std::string yaml((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    replaceAll(yaml, "/var/lib/skiff/iris", (root / "store").string());
    replaceAll(yaml, "port: 8000", "port: " + std::to_string(serverPort));
    replaceAll(yaml, "notebook:\n",
               "notebook:\n  port: " + std::to_string(freeLoopbackPort()) + "\n");
    std::ofstream(project / "skiff.yaml") << yaml;
  }
  ~IrisCopy() { runSkiff({"down", project.string()}); }

  CommandResult run() const {
    SpawnOptions options;
    options.extraEnv["SKIFF"] = skiffBinary();
    return runCommand({(project / "run.sh").string()}, options);
  }
};

TEST(IrisExample, RunTwiceServesVersionTwoWithoutAFailedRequest) {
  IrisCopy iris;
  const auto first = iris.run();
  ASSERT_EQ(first.exitCode, 0) << first.out << first.err;
  EXPECT_NE(first.out.find("5.1,3.5,1.4,0.2 -> setosa"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("6.7,3.0,5.2,2.3 -> virginica"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("version 1"), std::string::npos) << first.out;
  EXPECT_TRUE(fs::exists(iris.root / "store/models/iris/1/model.onnx"));

  // Clients ask the server (latest version) all through the second run.
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
    request.url = "http://127.0.0.1:" + std::to_string(iris.serverPort) + "/v2/models/iris/infer";
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
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  const auto second = iris.run();
  stop = true;
  client.join();
  ASSERT_EQ(second.exitCode, 0) << second.out << second.err;
  EXPECT_NE(second.out.find("classifier (unchanged, kept running)"), std::string::npos)
      << second.out;
  EXPECT_NE(second.out.find("version 2"), std::string::npos) << second.out;
  EXPECT_GT(answered.load(), 20);
  EXPECT_EQ(failed.load(), 0) << "last failure: " << lastFailure;
  std::cout << second.out << answered.load() << " predictions answered during the second run\n";

  const auto status = runSkiff({"status", iris.project.string()});
  EXPECT_NE(status.out.find("accuracy="), std::string::npos) << status.out;
}

}  // namespace
}  // namespace skiff::testing
