#pragma once

// The supervisor's control channel: a Unix socket at DIR/.skiff/supervisor.sock
// (mode 0600, since requests carry secret values). One JSON request and one
// JSON reply per connection.

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

namespace skiff::deploy::local {

std::filesystem::path controlSocketPath(const std::filesystem::path& projectDir);

// Sends `request` and returns the reply; nothing when no supervisor listens.
// Throws skiff::Error when the supervisor breaks off or times out.
std::optional<nlohmann::json> sendControlRequest(const std::filesystem::path& projectDir,
                                                 const nlohmann::json& request,
                                                 std::chrono::seconds timeout);

// Listens on the socket; `accept` waits up to `timeout` for one request.
class ControlServer {
 public:
  explicit ControlServer(const std::filesystem::path& projectDir);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  struct Connection {
    int fd = -1;
    nlohmann::json request;
  };
  // A connection with its request, or nothing when none came in time (or
  // the request was not JSON: that caller gets an error reply here).
  std::optional<Connection> accept(std::chrono::milliseconds timeout);
  static void reply(Connection& connection, const nlohmann::json& reply);
  // Stops listening and removes the socket.
  void close();

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

}  // namespace skiff::deploy::local
