// The `skiff serve` command line every target runs for a serve service:
// skiff.yaml's grpcPort and batching become its flags.

#include "deploy/serve_command.hpp"

#include <gtest/gtest.h>

#include "spec/parse.hpp"

namespace skiff::deploy {
namespace {

spec::Service serveService(const std::string& fields) {
  const auto result = spec::parseSpec(
      "name: app\nservices:\n  models:\n    kind: serve\n    modelRepository: file:///m\n" + fields,
      "skiff.yaml");
  EXPECT_TRUE(result.ok()) << (result.diagnostics.empty() ? "" : result.diagnostics[0].format());
  return result.ok() ? result.spec->services.at("models") : spec::Service{};
}

TEST(ServeCommand, WithoutGrpcOrBatchingTheFlagsAreTheBasicOnes) {
  EXPECT_EQ(serveCommand(serveService(""), "skiff", "127.0.0.1"),
            (std::vector<std::string>{"skiff", "serve", "--model-repository", "file:///m", "--poll",
                                      "30", "--http-port", "8000", "--host", "127.0.0.1"}));
}

TEST(ServeCommand, GrpcPortAndBatchingBecomeFlags) {
  const spec::Service service = serveService(
      "    grpcPort: 8001\n"
      "    batching: {maxBatchSize: 32, maxQueueDelay: 1.5ms, preferredBatchSize: [16, 8]}\n");
  const std::vector<std::string> argv = serveCommand(service, "/bin/skiff", "0.0.0.0");
  const std::vector<std::string> tail(argv.begin() + 10, argv.end());
  EXPECT_EQ(tail, (std::vector<std::string>{"--grpc-port", "8001", "--max-batch-size", "32",
                                            "--max-queue-delay", "1500us", "--preferred-batch-size",
                                            "8", "--preferred-batch-size", "16"}));
}

}  // namespace
}  // namespace skiff::deploy
