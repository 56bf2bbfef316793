#pragma once

// The engine's own latency for one request body, in process: the limit that
// the HTTP server's overhead is measured against (bench/serve_latency.sh).

#include <string>

#include "serve/engine.hpp"

namespace skiff::serve {

struct EngineBenchResult {
  double p50Microseconds = 0;
  double p99Microseconds = 0;
  int iterations = 0;
};

// Loads `modelFile`, parses `kserveBody` (a KServe v2 JSON infer request) once,
// and times `iterations` runs of the engine session alone.
EngineBenchResult benchEngine(const std::string& modelFile, const std::string& kserveBody,
                              int iterations, const OnnxRuntimeOptions& engineOptions);

}  // namespace skiff::serve
