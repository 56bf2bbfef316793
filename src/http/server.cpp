#include "http/server.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/error.hpp"
#include "common/text.hpp"

namespace skiff::http {

HttpReply errorReply(int status, const std::string& message) {
  HttpReply reply;
  reply.status = status;
  // Messages may quote request bytes: invalid UTF-8 is replaced, not thrown on.
  reply.body = nlohmann::json{{"error", message}}.dump(-1, ' ', false,
                                                       nlohmann::json::error_handler_t::replace);
  return reply;
}

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace beast_http = beast::http;  // Beast's, not skiff::http
using tcp = asio::ip::tcp;

namespace {
class Connection;

std::string_view view(boost::beast::string_view text) {
  return {text.data(), text.size()};
}

int64_t nowNanoseconds() {
  return std::chrono::steady_clock::now().time_since_epoch().count();
}

// Half the descriptor limit leaves the rest for model files, blob
// connections and logs; SKIFF_MAX_CONNECTIONS overrides it.
size_t chooseMaxConnections(size_t asked) {
  if (asked > 0) return asked;
  if (const char* value = std::getenv("SKIFF_MAX_CONNECTIONS"); value && *value) {
    char* end = nullptr;
    const unsigned long long number = std::strtoull(value, &end, 10);
    if (*end != '\0' || number == 0 || number > 1000000) {
      throw Error(fmt::format("\"{}\" is not a connection limit", value), "SKIFF_MAX_CONNECTIONS",
                  "a whole number from 1 to 1000000, well under `ulimit -n`");
    }
    return static_cast<size_t>(number);
  }
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 10000;
  return std::clamp<size_t>(static_cast<size_t>(limit.rlim_cur / 2), 8, 10000);
}

bool outOfDescriptors(const beast::error_code& error) {
  return error == asio::error::no_descriptors || error == asio::error::no_buffer_space ||
         error == asio::error::no_memory ||
         error == beast::error_code(ENFILE, beast::system_category());
}
}  // namespace

std::string renderStats(const HttpServerStats& stats) {
  return fmt::format(
      "# HELP skiff_http_connections Open HTTP connections.\n"
      "# TYPE skiff_http_connections gauge\n"
      "skiff_http_connections {}\n"
      "# HELP skiff_http_max_connections The connection limit (SKIFF_MAX_CONNECTIONS).\n"
      "# TYPE skiff_http_max_connections gauge\n"
      "skiff_http_max_connections {}\n"
      "# HELP skiff_http_connections_evicted_total Idle connections closed to make room.\n"
      "# TYPE skiff_http_connections_evicted_total counter\n"
      "skiff_http_connections_evicted_total {}\n"
      "# HELP skiff_http_connections_refused_total Connections answered 503: all were busy.\n"
      "# TYPE skiff_http_connections_refused_total counter\n"
      "skiff_http_connections_refused_total {}\n"
      "# HELP skiff_http_accept_errors_total Failed accepts (out of descriptors, ...).\n"
      "# TYPE skiff_http_accept_errors_total counter\n"
      "skiff_http_accept_errors_total {}\n",
      stats.connections, stats.maxConnections, stats.evicted, stats.refused, stats.acceptErrors);
}

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(HttpHandler handle, HttpServerOptions chosen)
      : handler(std::move(handle)),
        options(std::move(chosen)),
        maxConnections(chooseMaxConnections(options.maxConnections)),
        contexts(makeContexts(options.threads)),
        acceptor(*contexts.front()),
        acceptPause(*contexts.front()) {}

  // One io_context per thread, each run by its thread alone: a connection's
  // reads, request and write never hop threads (a hop costs a futex wake-up,
  // ~5 us a request on loopback).
  static std::vector<std::unique_ptr<asio::io_context>> makeContexts(int threads) {
    std::vector<std::unique_ptr<asio::io_context>> made;
    for (int i = 0; i < std::max(threads, 1); ++i) {
      made.push_back(std::make_unique<asio::io_context>(1));
    }
    return made;
  }
  asio::io_context& nextContext() { return *contexts[nextContextIndex++ % contexts.size()]; }
  asio::io_context& mainContext() { return *contexts.front(); }
  void stopAll() {
    for (auto& context : contexts) context->stop();
  }

  void accept();
  void pauseAccepting(const beast::error_code& error);
  // Makes room: closes the connection idle longest; false when none is idle.
  bool evictIdle();
  void refuse(tcp::socket& socket);
  // Whether a new connection fits under the cap, after closing an idle one if need be.
  bool makeRoom();
  void add(const std::shared_ptr<Connection>& connection);
  HttpServerStats stats();
  void remove(Connection* connection);

  const HttpHandler handler;
  HttpServerOptions options;
  const size_t maxConnections;
  size_t evicting = 0;  // connections asked to close, not gone yet (under mutex)
  std::atomic<uint64_t> evicted{0};
  std::atomic<uint64_t> refused{0};
  std::atomic<uint64_t> acceptErrors{0};
  std::chrono::milliseconds pause{0};  // before the next accept; the acceptor's handler only
  int port = 0;                        // as bound (the acceptor closes on shutdown)
  std::atomic<bool> stopping{false};
  std::atomic<bool> drainStarted{false};
  // Before the contexts: connections left in their queues unregister while they are destroyed.
  std::mutex mutex;
  std::unordered_map<Connection*, std::weak_ptr<Connection>> connections;
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  size_t nextContextIndex = 0;  // used by the acceptor's handler only
  // Keep contexts without connections running until the drain is over.
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keepRunning;
  tcp::acceptor acceptor;
  asio::steady_timer acceptPause;
  std::vector<std::thread> threads;
  std::optional<asio::steady_timer> drainTimer;
};

namespace {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, HttpServer::Impl& server)
      : stream_(std::move(socket)), server_(server) {}
  ~Connection() { server_.remove(this); }

  // Since when it waits for a request; -1 while one is in progress. Read by
  // the acceptor's thread to pick whom to close at the connection cap.
  int64_t idleSince() const { return idleSince_; }
  // Marks it as chosen for closing; false when it was chosen before.
  bool markEvicted() { return !evicted_.exchange(true); }
  bool evicted() const { return evicted_; }

  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

  // From the shutdown: closes the connection unless a request is being served.
  void stopIfIdle() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->busy_) self->close();
    });
  }

 private:
  void read() {
    busy_ = false;
    idleSince_ = nowNanoseconds();
    if (server_.stopping) return close();
    parser_.emplace();
    parser_->body_limit(server_.options.maxBodyBytes);
    stream_.expires_after(server_.options.idleTimeout);
    beast_http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code error, size_t) { self->onHeader(error); });
  }

  // Clients that ask (curl does for bodies over 1 MiB) get "100 Continue"
  // before they send the body, instead of waiting a second for it.
  void onHeader(beast::error_code error) {
    busy_ = true;  // a request has begun: a shutdown lets it finish
    idleSince_ = -1;
    if (error) return onRead(error);
    if (beast::iequals(parser_->get()[beast_http::field::expect], "100-continue")) {
      continue_ = {beast_http::status::continue_, 11};
      return beast_http::async_write(
          stream_, continue_, [self = shared_from_this()](beast::error_code written, size_t) {
            if (written) return self->close();
            self->readBody();
          });
    }
    readBody();
  }

  void readBody() {
    beast_http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code error, size_t) { self->onRead(error); });
  }

  void onRead(beast::error_code error) {
    busy_ = true;
    if (error == beast_http::error::body_limit) {
      return reply(
          errorReply(413, fmt::format("the request body is larger than the limit of {} bytes "
                                      "(--max-body-size)",
                                      server_.options.maxBodyBytes)),
          false);
    }
    if (error == beast_http::error::end_of_stream || error == beast::error::timeout ||
        error == asio::error::operation_aborted || error == asio::error::eof ||
        error == asio::error::connection_reset || error == asio::error::bad_descriptor) {
      return close();
    }
    if (error) return reply(errorReply(400, "malformed HTTP request: " + error.message()), false);
    const auto& message = parser_->get();
    // Two Host headers leave it open which host is meant (RFC 9112 3.2).
    if (message.count(beast_http::field::host) > 1) {
      return reply(errorReply(400, "more than one Host header: send exactly one"), false);
    }
    HttpRequestView request;
    request.host = view(message[beast_http::field::host]);
    request.method = view(message.method_string());
    request.target = view(message.target());
    request.body = message.body();
    if (auto header = message.find("Inference-Header-Content-Length"); header != message.end()) {
      request.inferenceHeaderLength = view(header->value());
      if (request.inferenceHeaderLength.empty()) request.inferenceHeaderLength = "invalid";
    }
    reply(server_.handler(request), message.keep_alive());
  }

  void reply(HttpReply reply, bool keepAlive) {
    response_ = {};
    response_.version(11);
    response_.result(static_cast<unsigned>(reply.status));
    response_.set(beast_http::field::server, "skiff");
    response_.set(beast_http::field::content_type, reply.contentType);
    if (reply.inferenceHeaderLength) {
      response_.set("Inference-Header-Content-Length",
                    std::to_string(*reply.inferenceHeaderLength));
    }
    response_.body() = std::move(reply.body);
    response_.keep_alive(keepAlive && !server_.stopping);
    response_.prepare_payload();
    stream_.expires_after(server_.options.idleTimeout);
    beast_http::async_write(stream_, response_,
                            [self = shared_from_this()](beast::error_code error, size_t) {
                              if (error || !self->response_.keep_alive()) return self->close();
                              self->read();
                            });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  HttpServer::Impl& server_;
  beast::flat_buffer buffer_;
  std::optional<beast_http::request_parser<beast_http::string_body>> parser_;
  beast_http::response<beast_http::string_body> response_;
  beast_http::response<beast_http::empty_body> continue_;
  bool busy_ = false;
  std::atomic<int64_t> idleSince_{nowNanoseconds()};
  std::atomic<bool> evicted_{false};
};

}  // namespace

void HttpServer::Impl::accept() {
  acceptor.async_accept(
      nextContext(), [self = shared_from_this()](beast::error_code error, tcp::socket socket) {
        if (self->stopping) return;
        if (error) return self->pauseAccepting(error);
        self->pause = std::chrono::milliseconds(0);
        if (self->makeRoom()) {
          beast::error_code ignored;
          socket.set_option(tcp::no_delay(true), ignored);
          auto connection = std::make_shared<Connection>(std::move(socket), *self);
          self->add(connection);
          connection->start();
        } else {
          self->refuse(socket);
        }
        self->accept();
      });
}

// Accepting again at once after EMFILE fails again at once: a busy loop that
// starves the connections being served. Free a descriptor and wait a little
// longer each time, up to a second.
void HttpServer::Impl::pauseAccepting(const beast::error_code& error) {
  ++acceptErrors;
  if (outOfDescriptors(error)) evictIdle();
  const bool first = pause.count() == 0;
  pause = std::clamp(pause * 2, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
  if (first) {
    spdlog::warn(
        "cannot accept connections ({}); {} open, limit {} (SKIFF_MAX_CONNECTIONS); "
        "retrying, raise `ulimit -n` or lower the limit",
        error.message(), stats().connections, maxConnections);
  }
  acceptPause.expires_after(pause);
  acceptPause.async_wait([self = shared_from_this()](beast::error_code waited) {
    if (!waited && !self->stopping) self->accept();
  });
}

bool HttpServer::Impl::evictIdle() {
  std::shared_ptr<Connection> oldest;
  {
    std::lock_guard lock(mutex);
    int64_t oldestSince = 0;
    for (const auto& [raw, weak] : connections) {
      const int64_t since = raw->idleSince();
      if (since < 0 || raw->evicted()) continue;
      if (!oldest || since < oldestSince) {
        if (auto connection = weak.lock()) {
          oldest = std::move(connection);
          oldestSince = since;
        }
      }
    }
    if (!oldest || !oldest->markEvicted()) return false;
    ++evicting;
  }
  ++evicted;
  oldest->stopIfIdle();
  return true;
}

// Every connection is busy: a short answer, then close, so the client knows
// (a connection left in the backlog would only time out).
void HttpServer::Impl::refuse(tcp::socket& socket) {
  ++refused;
  static constexpr std::string_view kBusy =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
      "Retry-After: 1\r\nConnection: close\r\nContent-Length: 75\r\n\r\n"
      "{\"error\":\"too many connections, all busy (SKIFF_MAX_CONNECTIONS); retry\"}\n";
  beast::error_code ignored;
  socket.non_blocking(true, ignored);
  socket.write_some(asio::buffer(kBusy.data(), kBusy.size()), ignored);
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  socket.close(ignored);
}

bool HttpServer::Impl::makeRoom() {
  {
    std::lock_guard lock(mutex);
    if (connections.size() - evicting < maxConnections) return true;
  }
  return evictIdle();
}

void HttpServer::Impl::add(const std::shared_ptr<Connection>& connection) {
  std::lock_guard lock(mutex);
  connections[connection.get()] = connection;
}

HttpServerStats HttpServer::Impl::stats() {
  std::lock_guard lock(mutex);
  return {connections.size(), maxConnections, evicted, refused, acceptErrors};
}

void HttpServer::Impl::remove(Connection* connection) {
  std::lock_guard lock(mutex);
  if (connections.erase(connection) && connection->evicted()) --evicting;
}

HttpServer::HttpServer(HttpHandler handler, HttpServerOptions options)
    : impl_(std::make_shared<Impl>(std::move(handler), std::move(options))) {
  const std::string where = fmt::format("{}:{}", impl_->options.host, impl_->options.port);
  try {
    tcp::resolver resolver(impl_->mainContext());
    const auto endpoints =
        resolver.resolve(impl_->options.host, std::to_string(impl_->options.port),
                         tcp::resolver::passive | tcp::resolver::numeric_service);
    const tcp::endpoint endpoint = endpoints.begin()->endpoint();
    impl_->acceptor.open(endpoint.protocol());
    impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
    impl_->acceptor.bind(endpoint);
    impl_->acceptor.listen(asio::socket_base::max_listen_connections);
    impl_->port = impl_->acceptor.local_endpoint().port();
  } catch (const boost::system::system_error& e) {
    throw Error("cannot listen: " + e.code().message(), where,
                "choose another --http-port or --host");
  }
}

HttpServer::~HttpServer() {
  shutdown();
  wait();
}

int HttpServer::port() const {
  return impl_->port;
}

HttpServerStats HttpServer::stats() const {
  return impl_->stats();
}

void HttpServer::start() {
  impl_->accept();
  for (auto& context : impl_->contexts) {
    impl_->keepRunning.push_back(asio::make_work_guard(*context));
    impl_->threads.emplace_back([impl = impl_, io = context.get()] { io->run(); });
  }
}

void HttpServer::shutdown() {
  if (impl_->stopping.exchange(true)) return;
  asio::post(impl_->mainContext(), [impl = impl_] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
    impl->acceptPause.cancel();
    std::vector<std::shared_ptr<Connection>> open;
    {
      std::lock_guard lock(impl->mutex);
      for (auto& entry : impl->connections) {
        if (auto connection = entry.second.lock()) open.push_back(std::move(connection));
      }
    }
    for (auto& connection : open) connection->stopIfIdle();
    // Requests still running after the drain timeout are cut off.
    impl->drainTimer.emplace(impl->mainContext(), impl->options.drainTimeout);
    impl->drainTimer->async_wait([impl](beast::error_code error) {
      if (!error) impl->stopAll();
    });
    impl->drainStarted = true;
  });
}

void HttpServer::wait() {
  if (impl_->threads.empty()) return;  // never started
  // The drain timer keeps run() busy; cancel it once every connection is gone.
  while (true) {
    {
      std::lock_guard lock(impl_->mutex);
      if (impl_->drainStarted && impl_->connections.empty()) break;
    }
    if (impl_->mainContext().stopped()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  asio::post(impl_->mainContext(), [impl = impl_] {
    if (impl->drainTimer) impl->drainTimer->cancel();
    for (auto& guard : impl->keepRunning) guard.reset();
  });
  for (auto& thread : impl_->threads) {
    if (thread.joinable()) thread.join();
  }
  impl_->threads.clear();
}

}  // namespace skiff::http
