#include "harness/services.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace skiff::testing {
namespace {

std::string envOr(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

constexpr auto kStartTimeout = std::chrono::seconds(60);

}  // namespace

namespace {

// The response to `request` on a new connection; nothing when none opens.
std::optional<std::string> exchangeOnce(int port, const std::string& request) {
  const int fd = connectLoopback(port);
  if (fd < 0) return std::nullopt;
  std::string response;
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) >= 0) {
    char buffer[4096];
    ssize_t got = 0;
    while ((got = ::recv(fd, buffer, sizeof buffer, 0)) > 0) response.append(buffer, got);
  }
  ::close(fd);
  return response;
}

}  // namespace

std::string rawExchange(int port, const std::string& request) {
  return exchangeOnce(port, request).value_or("");
}

std::string httpGet(int port, const std::string& path) {
  const auto response = exchangeOnce(
      port, fmt::format("GET {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n", path,
                        port));
  if (!response) throw std::runtime_error(fmt::format("nothing listens on 127.0.0.1:{}", port));
  return *response;
}

LiveService::LiveService(std::string name, std::vector<std::string> argv, int port,
                         std::unique_ptr<TempDir> dir)
    : name_(std::move(name)), argv_(std::move(argv)), dir_(std::move(dir)), port_(port) {
  start();
}

void LiveService::stop() {
  process_.reset();
}

void LiveService::start() {
  SpawnOptions options;
  options.stdoutFile = dir_->path() / "service.log";
  options.stderrFile = options.stdoutFile;
  options.dieWithParent = true;
  process_ = std::make_unique<Subprocess>(argv_, options);
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (!portAcceptsConnections(port_)) {
    if (!process_->running() || std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error(
          fmt::format("{} did not start on 127.0.0.1:{}; its log:\n{}", name_, port_, log()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::string LiveService::log() const {
  std::ifstream in(dir_->path() / "service.log");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

Azurite::Azurite() {
  auto dir = std::make_unique<TempDir>("skiff-azurite");
  const int port = freeLoopbackPort();
  const std::string binary = envOr("SKIFF_AZURITE_BLOB", SKIFF_NODE_BIN "/azurite-blob");
  // --disableTelemetry always: these machines must never reach a public address.
  service_ = std::make_unique<LiveService>(
      "Azurite",
      std::vector<std::string>{binary, "--blobHost", "127.0.0.1", "--blobPort",
                               std::to_string(port), "--location", dir->path().string(),
                               "--skipApiVersionCheck", "--loose", "--disableTelemetry"},
      port, std::move(dir));
}

Azurite& Azurite::shared() {
  static Azurite instance;
  return instance;
}

std::unique_ptr<Azurite> Azurite::startPrivate() {
  return std::unique_ptr<Azurite>(new Azurite());
}

std::string Azurite::blobEndpoint() const {
  return fmt::format("http://127.0.0.1:{}/{}", port(), kAccount);
}

std::string Azurite::connectionString() const {
  return fmt::format("DefaultEndpointsProtocol=http;AccountName={};AccountKey={};BlobEndpoint={};",
                     kAccount, kKey, blobEndpoint());
}

Registry::Registry() {
  auto dir = std::make_unique<TempDir>("skiff-registry");
  const int port = freeLoopbackPort();
  const auto config = dir->write("config.yml", fmt::format(R"(version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{}
)",
                                                           (dir->path() / "data").string(), port));
  const std::string binary = envOr("SKIFF_DOCKER_REGISTRY", "docker-registry");
  service_ = std::make_unique<LiveService>(
      "docker-registry", std::vector<std::string>{binary, "serve", config.string()}, port,
      std::move(dir));
}

Registry& Registry::shared() {
  static Registry instance;
  return instance;
}

std::string Registry::host() const {
  return fmt::format("127.0.0.1:{}", port());
}

ServeProcess::ServeProcess(const std::string& repository) {
  auto dir = std::make_unique<TempDir>("skiff-serve");
  const int port = freeLoopbackPort();
  std::vector<std::string> argv = {
      skiffBinary(),        "serve",       "--model-repository",     repository, "--http-port",
      std::to_string(port), "--cache-dir", (*dir / "cache").string()};
  service_ = std::make_unique<LiveService>("skiff serve", argv, port, std::move(dir));
  const bool ready =
      waitFor([port] { return httpGet(port, "/v2/health/ready").rfind("HTTP/1.1 200", 0) == 0; },
              std::chrono::seconds(30));
  if (!ready) {
    throw std::runtime_error("skiff serve did not get ready in 30 s; its log:\n" + log());
  }
}

std::string ServeProcess::endpoint() const {
  return fmt::format("http://127.0.0.1:{}", port());
}

void writeMlpRepository(const std::filesystem::path& repository, const std::string& makeModels,
                        const std::vector<std::string>& versions, const std::string& config) {
  const std::filesystem::path made = repository / ".made";
  const auto result = runCommand({"/usr/bin/python3", makeModels, made.string()});
  if (result.exitCode != 0) throw std::runtime_error(makeModels + " failed: " + result.err);
  for (const std::string& version : versions) {
    std::filesystem::create_directories(repository / "mlp" / version);
    std::filesystem::copy_file(made / "mlp.onnx", repository / "mlp" / version / "model.onnx");
  }
  std::ofstream(repository / "mlp" / "config.yaml") << config;
}

bool waitFor(const std::function<bool()>& ready, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (ready()) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::string skiffBinary() {
  return envOr("SKIFF_BINARY", SKIFF_BINARY);
}

CommandResult runSkiff(const std::vector<std::string>& args,
                       const std::map<std::string, std::string>& env, const std::string& input) {
  std::vector<std::string> argv = {skiffBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  SpawnOptions options;
  options.extraEnv = env;
  return runCommand(argv, options, input);
}

}  // namespace skiff::testing
