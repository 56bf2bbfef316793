// The harness itself: the live services start, answer on loopback, and the
// skiff binary runs.

#include "harness/services.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

namespace skiff::testing {
namespace {

TEST(Harness, AzuriteAnswersBlobRequests) {
  Azurite& azurite = Azurite::shared();
  // An anonymous listing is refused by the blob service, which proves it is Azurite answering.
  const std::string response = httpGet(azurite.port(), "/devstoreaccount1?comp=list");
  EXPECT_EQ(response.rfind("HTTP/1.1 ", 0), 0u) << response;
  EXPECT_NE(response.find("x-ms-request-id"), std::string::npos) << response;
  EXPECT_EQ(&azurite, &Azurite::shared()) << "one Azurite per test binary";
}

TEST(Harness, RegistryServesDistributionApi) {
  Registry& registry = Registry::shared();
  const std::string response = httpGet(registry.port(), "/v2/");
  EXPECT_EQ(response.rfind("HTTP/1.1 200", 0), 0u) << response;
  EXPECT_NE(response.find("Docker-Distribution-Api-Version: registry/2.0"), std::string::npos)
      << response;
}

TEST(Harness, RunsTheSkiffBinary) {
  const CommandResult result = runSkiff({"--version"});
  EXPECT_EQ(result.exitCode, 0) << result.err;
  EXPECT_EQ(result.out.rfind("skiff ", 0), 0u) << result.out;
}

TEST(Harness, FreePortsAreFree) {
  const int port = freeLoopbackPort();
  EXPECT_GT(port, 0);
  EXPECT_FALSE(portAcceptsConnections(port));
}

// A project that runs has a supervisor socket in .skiff/: std::filesystem::copy
// fails on it ("cannot copy: Invalid argument"), so tests copy what a user commits.
TEST(Harness, CopiesAProjectWhileItRuns) {
  namespace fs = std::filesystem;
  TempDir dir("skiff-copy");
  dir.write("project/skiff.yaml", "name: p\n");
  dir.write("project/data/a.csv", "1,2\n");
  dir.write("project/__pycache__/train.cpython-311.pyc", "x");
  dir.write("project/.skiff/state.json", "{}");
  const auto socketPath = dir / "project/.skiff/supervisor.sock";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socketPath.c_str(), sizeof(address.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);

  copyProject(dir / "project", dir / "copy");
  ::close(fd);
  EXPECT_TRUE(fs::exists(dir / "copy/skiff.yaml"));
  EXPECT_TRUE(fs::exists(dir / "copy/data/a.csv"));
  EXPECT_FALSE(fs::exists(dir / "copy/.skiff"));
  EXPECT_FALSE(fs::exists(dir / "copy/__pycache__"));
}

}  // namespace
}  // namespace skiff::testing
