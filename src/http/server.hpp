#pragma once

// The HTTP/1.1 server of skiff serve and skiff dashboard (Boost.Beast over
// Asio): keep-alive connections, a body size limit (413), and a graceful
// shutdown that stops accepting, closes idle connections and lets requests in
// flight finish. Requests run on the I/O threads themselves: no hand-off
// between threads on the hot path.
//
// Connections are capped below the descriptor limit: at the cap, the
// connection idle longest (no request in progress) is closed to make room,
// so idle or slow clients cannot lock others out; when every connection is
// busy, a new one gets 503. Running out of descriptors anyway (EMFILE)
// closes an idle connection and retries the accept after a pause, never in
// a busy loop.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace skiff::http {

// A request as the handler sees it; the views live until the handler returns.
struct HttpRequestView {
  std::string_view method;
  std::string_view target;  // path and query
  std::string_view body;
  std::string_view inferenceHeaderLength;  // Inference-Header-Content-Length; empty when absent
  std::string_view host;                   // the Host header; empty when absent
};

struct HttpReply {
  int status = 200;
  std::string contentType = "application/json";
  std::string body;
  std::optional<size_t> inferenceHeaderLength;
};

using HttpHandler = std::function<HttpReply(const HttpRequestView&)>;

// {"error": MESSAGE} with the status: how both servers answer what they refuse.
HttpReply errorReply(int status, const std::string& message);

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;  // 0: any free port (tests)
  int threads = 1;
  uint64_t maxBodyBytes = 64ull << 20;
  std::chrono::seconds idleTimeout{75};   // closes keep-alive connections left idle
  std::chrono::seconds drainTimeout{30};  // the longest a shutdown waits for requests
  // Open connections at most; 0: SKIFF_MAX_CONNECTIONS when set, else half
  // the descriptor limit (RLIMIT_NOFILE), at most 10000.
  size_t maxConnections = 0;
};

// What the connection cap did so far, for /metrics.
struct HttpServerStats {
  size_t connections = 0;     // open now
  size_t maxConnections = 0;  // the cap in force
  uint64_t evicted = 0;       // idle connections closed to make room
  uint64_t refused = 0;       // connections answered 503 (every one busy)
  uint64_t acceptErrors = 0;  // failed accepts (EMFILE, ...), each followed by a pause
};

// The stats as Prometheus text (skiff_http_* gauges and counters).
std::string renderStats(const HttpServerStats& stats);

class HttpServer {
 public:
  // Binds and listens; throws skiff::Error when the address is taken or invalid.
  HttpServer(HttpHandler handler, HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;
  HttpServerStats stats() const;
  void start();     // runs the I/O threads
  void shutdown();  // begins the drain; returns at once; safe from any thread
  void wait();      // returns once the drain is over

  struct Impl;  // Beast's types stay in the .cpp

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace skiff::http
