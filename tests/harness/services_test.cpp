// The harness itself: the live services start, answer on loopback, and the
// skiff binary runs.

#include "harness/services.hpp"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace skiff::testing
