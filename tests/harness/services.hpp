#pragma once

// Live services for tests, started on free loopback ports and stopped when
// the test process ends. A test asks for one with Azurite::shared() or
// Registry::shared(); the first call starts it (once per test binary).

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "common/subprocess.hpp"
#include "harness/temp_dir.hpp"

namespace skiff::testing {

using skiff::freeLoopbackPort;
using skiff::portAcceptsConnections;
// Whether something accepts TCP connections on 127.0.0.1:port.
// A plain HTTP/1.1 GET on loopback; returns the whole response (status line, headers, body).
std::string httpGet(int port, const std::string& path);
// Sends `request` as it is on a new connection and returns all that comes
// back until the server closes it (empty when nothing listens).
std::string rawExchange(int port, const std::string& request);

// A service process with its own temp dir and log file.
class LiveService {
 public:
  LiveService(std::string name, std::vector<std::string> argv, int port,
              std::unique_ptr<TempDir> dir);
  int port() const { return port_; }
  const TempDir& dir() const { return *dir_; }
  std::string log() const;  // what the service printed so far
  // For fault tests: stop the service, and start it again on the same port and data.
  void stop();
  void start();

 private:
  std::string name_;
  std::vector<std::string> argv_;
  std::unique_ptr<TempDir> dir_;
  int port_;
  std::unique_ptr<Subprocess> process_;
};

// Azurite's blob service (npm azurite), with the emulator's well-known account.
class Azurite {
 public:
  static constexpr const char* kAccount = "devstoreaccount1";
  static constexpr const char* kKey =
      "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

  static Azurite& shared();
  // An instance of the test's own, for tests that stop and restart it.
  static std::unique_ptr<Azurite> startPrivate();
  void stop() { service_->stop(); }
  void restart() { service_->start(); }
  int port() const { return service_->port(); }
  std::string blobEndpoint() const;      // http://127.0.0.1:PORT/devstoreaccount1
  std::string connectionString() const;  // for AZURE_STORAGE_CONNECTION_STRING
  std::string log() const { return service_->log(); }

 private:
  Azurite();
  std::unique_ptr<LiveService> service_;
};

// Debian's docker-registry (distribution v2), plain HTTP on loopback.
class Registry {
 public:
  static Registry& shared();
  int port() const { return service_->port(); }
  std::string host() const;  // 127.0.0.1:PORT
  std::string log() const { return service_->log(); }

 private:
  Registry();
  std::unique_ptr<LiveService> service_;
};

// `skiff serve` of a model repository (a directory or URI) on a free
// loopback port, started and ready (its models loaded) when constructed.
class ServeProcess {
 public:
  explicit ServeProcess(const std::string& repository);
  int port() const { return service_->port(); }
  std::string endpoint() const;  // http://127.0.0.1:PORT
  std::string log() const { return service_->log(); }

 private:
  std::unique_ptr<LiveService> service_;
};

// A model repository at `repository` holding the MLP that `makeModels`
// (tests/serve/make_models.py) writes, as each of `versions`, with `config`
// as its config.yaml. Throws when the script fails.
void writeMlpRepository(const std::filesystem::path& repository, const std::string& makeModels,
                        const std::vector<std::string>& versions, const std::string& config);

// Asks `ready` every 100 ms until it says yes (true) or `timeout` passes (false).
bool waitFor(const std::function<bool()>& ready, std::chrono::milliseconds timeout);

// The skiff binary built with these tests.
std::string skiffBinary();

// Runs the skiff binary with `args`; the environment gets `env` on top.
CommandResult runSkiff(const std::vector<std::string>& args,
                       const std::map<std::string, std::string>& env = {},
                       const std::string& input = {});

}  // namespace skiff::testing
