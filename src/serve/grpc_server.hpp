#pragma once

// KServe v2 over gRPC (inference.GRPCInferenceService) and gRPC health
// checking (grpc.health.v1.Health), on a port of their own, over the same
// model manager as the REST API: the same models, versions, labels, batching
// and errors, with REST's statuses mapped to gRPC codes.

#include <grpcpp/support/status.h>

#include <cstdint>
#include <memory>
#include <string>

#include "serve/metrics.hpp"
#include "serve/model_manager.hpp"

namespace grpc {
class Server;
}

namespace skiff::serve {

struct GrpcServerOptions {
  std::string host = "127.0.0.1";
  int port = 8001;  // 0: any free port
  uint64_t maxMessageBytes = 64ull << 20;
};

class GrpcServer {
 public:
  GrpcServer(ModelManager& manager, Metrics& metrics, GrpcServerOptions options);
  ~GrpcServer();

  // Listens; throws skiff::Error when the address cannot be bound.
  void start();
  int port() const { return port_; }
  // Stops taking calls; those in flight finish (cancelled after 30 s).
  void shutdown();
  void wait();

 private:
  struct Services;
  ModelManager& manager_;
  Metrics& metrics_;
  GrpcServerOptions options_;
  std::unique_ptr<Services> services_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// The gRPC code of a REST error status (400 INVALID_ARGUMENT, 404 NOT_FOUND,
// 503 UNAVAILABLE, ...), so both APIs fail alike.
grpc::StatusCode grpcCode(int httpStatus);

}  // namespace skiff::serve
