#include "deploy/serve_command.hpp"

#include <fmt/format.h>

namespace skiff::deploy {
namespace {

// skiff.yaml's `batching`, as `skiff serve`'s flags of the same meaning.
void addBatchingFlags(const spec::ServeBatching& batching, std::vector<std::string>& argv) {
  argv.insert(argv.end(), {"--max-batch-size", std::to_string(batching.maxBatchSize)});
  if (batching.maxQueueDelayMicroseconds) {
    argv.insert(argv.end(),
                {"--max-queue-delay", fmt::format("{}us", *batching.maxQueueDelayMicroseconds)});
  }
  for (const int64_t size : batching.preferredBatchSizes) {
    argv.insert(argv.end(), {"--preferred-batch-size", std::to_string(size)});
  }
}

}  // namespace

std::vector<std::string> serveCommand(const spec::Service& service, const std::string& skiffExe,
                                      const std::string& host) {
  std::vector<std::string> argv = {skiffExe,
                                   "serve",
                                   "--model-repository",
                                   service.modelRepository,
                                   "--poll",
                                   fmt::format("{}", service.pollSeconds),
                                   "--http-port",
                                   std::to_string(service.port),
                                   "--host",
                                   host};
  if (service.grpcPort != 0) {
    argv.insert(argv.end(), {"--grpc-port", std::to_string(service.grpcPort)});
  }
  if (service.batching) addBatchingFlags(*service.batching, argv);
  return argv;
}

}  // namespace skiff::deploy
