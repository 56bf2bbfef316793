#pragma once

// A loopback HTTP proxy that injects faults between a client and a live
// service: dropped connections, 503 responses, responses cut mid-body, and
// stalls (the connection stays open, no answer comes).
// It serves one request per connection (it asks both sides to close), which
// lets it pick a fault per request.

#include <atomic>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace skiff::blob::testing {

class FaultProxy {
 public:
  enum class Fault {
    kNone,         // forward to the service
    kReset,        // close the connection without answering
    kUnavailable,  // answer 503 Server Busy, with Retry-After when set
    kCutResponse,  // forward, then send only half of the response
    kStall,        // read the request, then never answer (until the client gives up)
  };

  explicit FaultProxy(int upstreamPort);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  int port() const { return port_; }
  // Faults for the next requests, in order; after them, `fallback` for every request.
  void script(std::vector<Fault> faults, Fault fallback = Fault::kNone);
  void setRetryAfterSeconds(int seconds) { retryAfter_ = seconds; }
  int requests() const { return requests_; }
  int faultsInjected() const { return faultsInjected_; }

 private:
  void serve();
  void handle(int client);
  Fault nextFault();

  int upstreamPort_;
  int port_ = 0;
  int listener_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::atomic<int> faultsInjected_{0};
  std::atomic<int> retryAfter_{0};
  std::mutex mutex_;
  std::deque<Fault> script_;
  Fault fallback_ = Fault::kNone;
  std::thread acceptor_;
  std::vector<std::thread> handlers_;
};

}  // namespace skiff::blob::testing
