// `skiff logs NAME -f` on a real pod: it streams a running container and
// follows it across a restart, saying why the last run ended.

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "harness/pod_cluster.hpp"
#include "harness/services.hpp"
#include "harness/temp_dir.hpp"

namespace skiff::testing {
namespace {

constexpr const char* kFlakyProject = R"(name: flaky
image:
  repository: localhost:5000/skiff-test-flaky
services:
  worker:
    command: [sh, -c, "echo run started; sleep 3; echo run ending; exit 3"]
)";

TEST(PodLogs, FollowingAServiceGoesOnAcrossItsRestart) {
  const auto& cluster = PodCluster::shared();
  TempDir project{"skiff-flaky"};
  project.write("skiff.yaml", kFlakyProject);
  project.write("Dockerfile", "FROM busybox\n");
  const std::string ns = "skiff-logs-" + std::to_string(::getpid());
  ASSERT_EQ(cluster.kubectl({"create", "namespace", ns}).exitCode, 0);
  auto env = cluster.env();
  const auto build = runSkiff({"build", project.path().string()}, env);
  ASSERT_EQ(build.exitCode, 0) << build.err;
  const auto release =
      runSkiff({"release", "--target", "k8s", "--namespace", ns, project.path().string()}, env);
  ASSERT_EQ(release.exitCode, 0) << release.out << release.err;

  // Follow for long enough to see the first run end and the second start
  // (kubelet restarts a crashed container after 10 s the first time).
  SpawnOptions options;
  options.extraEnv = env;
  options.stdoutFile = project / "logs.out";
  options.stderrFile = project / "logs.err";
  Subprocess logs({skiffBinary(), "logs", "worker", project.path().string(), "-f", "--target",
                   "k8s", "--namespace", ns},
                  options);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  auto runsSeen = [&] {
    const std::string out = project.read("logs.out");
    size_t count = 0;
    for (auto at = out.find("run ending"); at != std::string::npos;
         at = out.find("run ending", at + 1)) {
      ++count;
    }
    return count;
  };
  while (runsSeen() < 2 && std::chrono::steady_clock::now() < deadline && logs.running()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  const std::string out = project.read("logs.out");
  const std::string err = project.read("logs.err");
  EXPECT_TRUE(logs.running()) << "-f ends only with the pod\n" << out << err;
  logs.stop();
  EXPECT_GE(runsSeen(), 2u) << out << err;
  EXPECT_NE(err.find("container worker restarted (restart 1; the last run ended with exit code 3: "
                     "Error); following the new run"),
            std::string::npos)
      << err;
  cluster.kubectl({"delete", "namespace", ns, "--wait=false"});
}

}  // namespace
}  // namespace skiff::testing
