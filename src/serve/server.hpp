#pragma once

// `skiff serve`: a model repository, an engine, the HTTP (and gRPC) server, and a poller
// that keeps the loaded versions in line with the repository.

#include <cstdint>
#include <string>

#include "serve/engine.hpp"

namespace skiff::serve {

struct ServeOptions {
  std::string repository;  // az://..., file://... or a local path
  double pollSeconds = 30;
  std::string host = "127.0.0.1";
  int port = 8000;
  int grpcPort = -1;     // KServe v2 over gRPC; 0: any free port, -1: none
  int threads = 0;       // 0: one per core
  std::string cacheDir;  // default: a directory under /var/cache/skiff or /tmp
  uint64_t maxBodyBytes = 64ull << 20;
  OnnxRuntimeOptions onnxruntime;
};

// Serves until SIGINT or SIGTERM, then drains; returns the exit code.
int runServe(const ServeOptions& options);

}  // namespace skiff::serve
