#pragma once

// The HTTP/1.1 server (Boost.Beast over Asio): keep-alive connections, a body
// size limit (413), and a graceful shutdown that stops accepting, closes idle
// connections and lets requests in flight finish. Requests run on the I/O
// threads themselves: no hand-off between threads on the hot path.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "serve/router.hpp"

namespace skiff::serve {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;  // 0: any free port (tests)
  int threads = 1;
  uint64_t maxBodyBytes = 64ull << 20;
  std::chrono::seconds idleTimeout{75};   // closes keep-alive connections left idle
  std::chrono::seconds drainTimeout{30};  // the longest a shutdown waits for requests
};

class HttpServer {
 public:
  // Binds and listens; throws skiff::Error when the address is taken or invalid.
  HttpServer(const Router& router, HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;
  void start();     // runs the I/O threads
  void shutdown();  // begins the drain; returns at once; safe from any thread
  void wait();      // returns once the drain is over

  struct Impl;  // Beast's types stay in the .cpp

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace skiff::serve
