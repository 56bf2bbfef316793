#pragma once

// How every target runs a `serve` service: the same `skiff serve` command
// line locally and in a pod, and the same readiness path.

#include <string>
#include <vector>

#include "spec/spec.hpp"

namespace skiff::deploy {

inline constexpr const char* kServeReadyPath = "/v2/health/ready";

// `skiff serve` for `service` (kind serve), listening on `host`.
std::vector<std::string> serveCommand(const spec::Service& service, const std::string& skiffExe,
                                      const std::string& host);

}  // namespace skiff::deploy
