#include "deploy/serve_command.hpp"

#include <fmt/format.h>

namespace skiff::deploy {

std::vector<std::string> serveCommand(const spec::Service& service, const std::string& skiffExe,
                                      const std::string& host) {
  return {skiffExe,
          "serve",
          "--model-repository",
          service.modelRepository,
          "--poll",
          fmt::format("{}", service.pollSeconds),
          "--http-port",
          std::to_string(service.port),
          "--host",
          host};
}

}  // namespace skiff::deploy
