#pragma once

// Load for bench/serve_grpc.sh: KServe v2 infer calls over REST or gRPC from
// the same client code, so the ratio of the two measures the protocols, not
// two load generators. Each client is a thread with a connection of its own
// that sends one request, waits for its answer and sends the next.

#include <cstdint>
#include <string>

namespace skiff::serve {

struct ClientBenchOptions {
  std::string protocol = "rest";  // rest (HTTP/1.1 keep-alive, JSON) or grpc (ModelInfer)
  std::string address;            // HOST:PORT of the server
  std::string model;
  std::string requestBody;  // a KServe v2 JSON infer request (FP32 inputs for grpc)
  bool rawContents = true;  // grpc: raw_input_contents (as Triton's clients send) or typed
  int clients = 1;
  double seconds = 5;
};

struct ClientBenchResult {
  double requestsPerSecond = 0;
  double p50Microseconds = 0;
  double p99Microseconds = 0;
  int64_t requests = 0;
};

// Runs the clients for `seconds` after a short warm-up. Throws skiff::Error
// at the first failed call (a benchmark of errors measures nothing).
ClientBenchResult benchClients(const ClientBenchOptions& options);

}  // namespace skiff::serve
