#pragma once

// `skiff serve`: a model repository, an engine, the HTTP (and gRPC) server, and a poller
// that keeps the loaded versions in line with the repository.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "serve/engine.hpp"
#include "serve/model_manager.hpp"

namespace skiff::serve {

struct ServeOptions {
  std::string repository;  // az://..., file://... or a local path
  double pollSeconds = 30;
  ControlMode controlMode = ControlMode::kPoll;
  std::vector<std::string> loadModels;  // explicit mode: the models loaded at start
  std::string host = "127.0.0.1";
  int port = 8000;
  int grpcPort = -1;     // KServe v2 over gRPC; 0: any free port, -1: none
  int threads = 0;       // 0: one per core
  std::string cacheDir;  // default: a directory under /var/cache/skiff or /tmp
  uint64_t maxBodyBytes = 64ull << 20;
  OnnxRuntimeOptions onnxruntime;
  std::optional<DefaultBatching> batching;  // for the models whose config.yaml sets none
};

// Serves until SIGINT or SIGTERM, then drains; returns the exit code.
int runServe(const ServeOptions& options);

}  // namespace skiff::serve
