#include "deploy/local/control.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "common/error.hpp"

namespace skiff::deploy::local {

namespace fs = std::filesystem;

fs::path controlSocketPath(const fs::path& projectDir) {
  return fs::absolute(projectDir) / ".skiff" / "supervisor.sock";
}

namespace {

sockaddr_un socketAddress(const fs::path& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string text = path.string();
  if (text.size() >= sizeof address.sun_path) {
    throw Error("the project path is too long for the supervisor's socket", text,
                "move the project to a shorter path");
  }
  std::memcpy(address.sun_path, text.c_str(), text.size() + 1);
  return address;
}

// Reads until EOF or a newline, waiting at most `timeout` for each chunk.
std::optional<std::string> readMessage(int fd, std::chrono::milliseconds timeout) {
  std::string message;
  char buffer[65536];
  for (;;) {
    pollfd waitFor{fd, POLLIN, 0};
    if (::poll(&waitFor, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got < 0) return std::nullopt;
    if (got == 0) return message;
    message.append(buffer, static_cast<size_t>(got));
    if (message.back() == '\n') return message;
  }
}

void writeMessage(int fd, const std::string& message) {
  size_t done = 0;
  while (done < message.size()) {
    const ssize_t wrote = ::send(fd, message.data() + done, message.size() - done, MSG_NOSIGNAL);
    if (wrote <= 0) return;
    done += static_cast<size_t>(wrote);
  }
}

}  // namespace

std::optional<nlohmann::json> sendControlRequest(const fs::path& projectDir,
                                                 const nlohmann::json& request,
                                                 std::chrono::seconds timeout) {
  const auto path = controlSocketPath(projectDir);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const sockaddr_un address = socketAddress(path);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  writeMessage(fd, request.dump() + "\n");
  const auto reply = readMessage(fd, timeout);
  ::close(fd);
  if (!reply || reply->empty()) {
    throw Error("the local supervisor did not answer", path.string(),
                "see DIR/.skiff/supervisor.log; `skiff down` stops and cleans up everything");
  }
  return nlohmann::json::parse(*reply, nullptr, false);
}

ControlServer::ControlServer(const fs::path& projectDir) : path_(controlSocketPath(projectDir)) {
  fs::create_directories(path_.parent_path());
  std::error_code ignored;
  fs::remove(path_, ignored);  // left by a supervisor that crashed
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const sockaddr_un address = socketAddress(path_);
  // 0600: only the owner may talk to the supervisor (it runs what it is told).
  const mode_t previous = ::umask(0177);
  const bool bound = ::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  ::umask(previous);
  if (!bound || ::listen(fd_, 16) != 0) {
    throw Error(std::string("cannot listen on the supervisor's socket: ") + std::strerror(errno),
                path_.string());
  }
}

ControlServer::~ControlServer() {
  close();
}

void ControlServer::close() {
  if (fd_ < 0) return;
  std::error_code ignored;
  fs::remove(path_, ignored);
  ::close(fd_);
  fd_ = -1;
}

std::optional<ControlServer::Connection> ControlServer::accept(std::chrono::milliseconds timeout) {
  if (fd_ < 0) return std::nullopt;
  pollfd waitFor{fd_, POLLIN, 0};
  if (::poll(&waitFor, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
  Connection connection;
  connection.fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (connection.fd < 0) return std::nullopt;
  const auto message = readMessage(connection.fd, std::chrono::seconds(10));
  connection.request = nlohmann::json::parse(message.value_or(""), nullptr, false);
  if (connection.request.is_discarded() || !connection.request.is_object()) {
    reply(connection, {{"ok", false}, {"error", "the request is not a JSON object"}});
    return std::nullopt;
  }
  return connection;
}

void ControlServer::reply(Connection& connection, const nlohmann::json& reply) {
  writeMessage(connection.fd, reply.dump() + "\n");
  ::close(connection.fd);
  connection.fd = -1;
}

}  // namespace skiff::deploy::local
