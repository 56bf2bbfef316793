#pragma once

// A loopback HTTP proxy that injects faults between a client and a live
// service: dropped connections, 503 responses, responses cut mid-body, and
// stalls (the connection stays open, no answer comes), scripted or at
// random, and a latency on every request.
// It serves one request per connection (it asks both sides to close), which
// lets it pick a fault per request.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <random>
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
    kLostAnswer,   // forward (the service applies it), then close without answering
  };

  explicit FaultProxy(int upstreamPort);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  int port() const { return port_; }
  // Faults for the next requests, in order; after them, `fallback` for every request.
  void script(std::vector<Fault> faults, Fault fallback = Fault::kNone);
  // As script, but only requests whose request line contains `match` take
  // the faults (say "comp=blocklist" for the commit of a block upload).
  // After the faults, `fallback` for every matching request.
  void scriptMatching(std::string match, std::vector<Fault> faults, Fault fallback = Fault::kNone);
  // Faults at random (seeded): about one request in `oneIn` starts a burst
  // of `burst` faulted requests, each fault drawn from `faults`. No request
  // (its request line and Range header) is faulted more than `maxPerRequest`
  // times within 10 s, so that a client retrying each request three times
  // always gets through: the faults test its retries, not its give-up path.
  // Replaces any script.
  void randomFaults(uint64_t seed, int oneIn, std::vector<Fault> faults, int burst = 1,
                    int maxPerRequest = 2);
  // Every request waits this long before it is forwarded (a round trip).
  void setLatency(std::chrono::milliseconds latency) { latencyMs_ = latency.count(); }
  void setRetryAfterSeconds(int seconds) { retryAfter_ = seconds; }
  int requests() const { return requests_; }
  int faultsInjected() const { return faultsInjected_; }

 private:
  void serve();
  void handle(int client);
  Fault nextFault(const std::string& request);
  // With mutex_ held: a fault at random for `request`, or kNone.
  Fault randomFault(const std::string& request);

  int upstreamPort_;
  int port_ = 0;
  int listener_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::atomic<int> faultsInjected_{0};
  std::atomic<int> retryAfter_{0};
  std::atomic<int64_t> latencyMs_{0};
  std::mutex mutex_;
  std::deque<Fault> script_;
  std::string match_;  // of the request line; empty: every request
  Fault fallback_ = Fault::kNone;
  // Random faults (randomFaults), when oneIn_ > 0.
  int oneIn_ = 0;
  std::vector<Fault> randomKinds_;
  int burst_ = 1;
  int burstLeft_ = 0;
  int maxPerRequest_ = 2;
  std::mt19937_64 random_;
  // Per request (line and range): the times it was faulted lately.
  std::map<std::string, std::vector<std::chrono::steady_clock::time_point>> faulted_;
  std::thread acceptor_;
  // Handlers run detached; the destructor waits until none is left.
  std::mutex handlersMutex_;
  std::condition_variable handlersDone_;
  int handlers_ = 0;
};

}  // namespace skiff::blob::testing
