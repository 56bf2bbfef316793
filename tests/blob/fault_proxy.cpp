#include "fault_proxy.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

namespace skiff::blob::testing {
namespace {

bool sendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t sent = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (sent <= 0) return false;
    data.remove_prefix(static_cast<size_t>(sent));
  }
  return true;
}

// Reads one HTTP request (head and Content-Length body); empty on EOF.
std::string readRequest(int fd) {
  std::string data;
  char buffer[65536];
  size_t headEnd = std::string::npos;
  size_t total = 0;
  while (true) {
    if (headEnd == std::string::npos) {
      headEnd = data.find("\r\n\r\n");
      if (headEnd != std::string::npos) {
        std::string lower = data.substr(0, headEnd);
        std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
        const auto at = lower.find("\r\ncontent-length:");
        const size_t length = at == std::string::npos ? 0 : std::stoul(lower.substr(at + 17));
        total = headEnd + 4 + length;
      }
    }
    if (headEnd != std::string::npos && data.size() >= total) return data;
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got <= 0) return {};
    data.append(buffer, static_cast<size_t>(got));
  }
}

// Replaces any Connection header with "Connection: close".
std::string withConnectionClose(const std::string& request) {
  const size_t headEnd = request.find("\r\n\r\n");
  std::string head = request.substr(0, headEnd);
  std::string out;
  size_t start = 0;
  while (start < head.size()) {
    size_t end = head.find("\r\n", start);
    if (end == std::string::npos) end = head.size();
    std::string line = head.substr(start, end - start);
    std::string lower = line;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    if (lower.rfind("connection:", 0) != 0) out += line + "\r\n";
    start = end + 2;
  }
  return out + "Connection: close\r\n\r\n" + request.substr(headEnd + 4);
}

int listenLoopback(int& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(fd, 128) != 0) {
    throw std::runtime_error("the fault proxy cannot listen");
  }
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  port = ntohs(address.sin_port);
  return fd;
}

int connectLoopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

FaultProxy::FaultProxy(int upstreamPort) : upstreamPort_(upstreamPort) {
  listener_ = listenLoopback(port_);
  acceptor_ = std::thread([this] { serve(); });
}

FaultProxy::~FaultProxy() {
  stopping_ = true;
  ::shutdown(listener_, SHUT_RDWR);
  ::close(listener_);
  acceptor_.join();
  std::unique_lock lock(handlersMutex_);
  handlersDone_.wait(lock, [&] { return handlers_ == 0; });
}

void FaultProxy::script(std::vector<Fault> faults, Fault fallback) {
  std::lock_guard lock(mutex_);
  script_.assign(faults.begin(), faults.end());
  fallback_ = fallback;
  match_.clear();
  oneIn_ = 0;
}

void FaultProxy::scriptMatching(std::string match, std::vector<Fault> faults, Fault fallback) {
  std::lock_guard lock(mutex_);
  script_.assign(faults.begin(), faults.end());
  fallback_ = fallback;
  match_ = std::move(match);
  oneIn_ = 0;
}

void FaultProxy::randomFaults(uint64_t seed, int oneIn, std::vector<Fault> faults, int burst,
                              int maxPerRequest) {
  std::lock_guard lock(mutex_);
  script_.clear();
  fallback_ = Fault::kNone;
  match_.clear();
  oneIn_ = faults.empty() ? 0 : std::max(oneIn, 1);
  randomKinds_ = std::move(faults);
  burst_ = std::max(burst, 1);
  burstLeft_ = 0;
  maxPerRequest_ = maxPerRequest;
  random_.seed(seed);
  faulted_.clear();
}

FaultProxy::Fault FaultProxy::randomFault(const std::string& request) {
  if (burstLeft_ == 0) {
    if (random_() % static_cast<uint64_t>(oneIn_) != 0) return Fault::kNone;
    burstLeft_ = burst_;
  }
  // The request's identity: its request line and the range it asks for.
  const size_t headEnd = request.find("\r\n\r\n");
  std::string key = request.substr(0, request.find("\r\n"));
  std::string head = request.substr(0, headEnd);
  std::transform(head.begin(), head.end(), head.begin(), ::tolower);
  for (const char* header : {"\r\nrange:", "\r\nx-ms-range:"}) {
    const size_t at = head.find(header);
    if (at != std::string::npos) key += head.substr(at, head.find("\r\n", at + 2) - at);
  }
  const auto now = std::chrono::steady_clock::now();
  auto& times = faulted_[key];
  std::erase_if(times, [&](auto at) { return now - at > std::chrono::seconds(10); });
  if (static_cast<int>(times.size()) >= maxPerRequest_) return Fault::kNone;
  times.push_back(now);
  --burstLeft_;
  return randomKinds_[random_() % randomKinds_.size()];
}

FaultProxy::Fault FaultProxy::nextFault(const std::string& request) {
  std::lock_guard lock(mutex_);
  if (oneIn_ > 0) return randomFault(request);
  if (!match_.empty() &&
      request.substr(0, request.find("\r\n")).find(match_) == std::string::npos) {
    return Fault::kNone;
  }
  if (script_.empty()) return fallback_;
  const Fault fault = script_.front();
  script_.pop_front();
  return fault;
}

void FaultProxy::serve() {
  while (!stopping_) {
    pollfd waiting{listener_, POLLIN, 0};
    if (::poll(&waiting, 1, 100) <= 0) continue;
    const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    {
      std::lock_guard lock(handlersMutex_);
      ++handlers_;
    }
    std::thread([this, client] {
      handle(client);
      std::lock_guard lock(handlersMutex_);
      if (--handlers_ == 0) handlersDone_.notify_all();
    }).detach();
  }
}

void FaultProxy::handle(int client) {
  const std::string request = readRequest(client);
  if (request.empty()) {
    ::close(client);
    return;
  }
  ++requests_;
  const Fault fault = nextFault(request);
  if (fault != Fault::kNone) ++faultsInjected_;
  if (fault == Fault::kReset) {
    ::close(client);
    return;
  }
  if (fault == Fault::kStall) {
    // Hold the connection until the client closes it (or the proxy stops).
    char buffer[4096];
    while (!stopping_) {
      pollfd waiting{client, POLLIN, 0};
      if (::poll(&waiting, 1, 100) > 0 && ::recv(client, buffer, sizeof buffer, 0) <= 0) break;
    }
    ::close(client);
    return;
  }
  if (fault == Fault::kUnavailable) {
    const std::string body =
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>ServerBusy</Code><Message>"
        "Injected by the fault proxy</Message></Error>";
    std::string response = fmt::format(
        "HTTP/1.1 503 Service Unavailable\r\nx-ms-error-code: ServerBusy\r\n"
        "x-ms-request-id: fault-proxy\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.size());
    if (retryAfter_ > 0) response += fmt::format("Retry-After: {}\r\n", retryAfter_.load());
    sendAll(client, response + "\r\n" + body);
    ::close(client);
    return;
  }
  if (const auto latency = latencyMs_.load(); latency > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(latency));
  }
  const int upstream = connectLoopback(upstreamPort_);
  if (upstream < 0) {
    ::close(client);
    return;
  }
  std::string response;
  if (sendAll(upstream, withConnectionClose(request))) {
    char buffer[65536];
    ssize_t got;
    while ((got = ::recv(upstream, buffer, sizeof buffer, 0)) > 0) {
      response.append(buffer, static_cast<size_t>(got));
    }
  }
  ::close(upstream);
  if (fault == Fault::kLostAnswer) response.clear();
  if (fault == Fault::kCutResponse) response.resize(response.size() / 2);
  sendAll(client, response);
  ::close(client);
}

}  // namespace skiff::blob::testing
