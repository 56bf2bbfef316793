#include "deploy/fake_apiserver.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "common/error.hpp"
#include "harness/test_certificates.hpp"
#include "http/http_client.hpp"
#include "image/credentials.hpp"

namespace skiff::testing {

namespace fs = std::filesystem;

namespace {

std::string readFile(const fs::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

void FakeApiServer::makeCertificates() const {
  makeTestCertificates(dir_.path(), "/CN=skiff test CA",
                       {{"server", "/CN=skiff-server", "subjectAltName=IP:127.0.0.1\n"},
                        {"client", "/CN=skiff-client", "extendedKeyUsage=clientAuth\n"}});
}

FakeApiServer::FakeApiServer(Options options) : options_(std::move(options)) {
  std::vector<std::string> argv = {
      "/usr/bin/python3",  SKIFF_TEST_SOURCE_DIR "/deploy/k8s/fake_apiserver.py",
      "--port-file",       (dir_ / "port").string(),
      "--job-seconds",     fmt::format("{}", options_.jobSeconds),
      "--rollout-seconds", fmt::format("{}", options_.rolloutSeconds),
      "--drop-watches",    std::to_string(options_.dropWatches),
      "--expire-watches",  std::to_string(options_.expireWatches),
      "--pod-seconds",     fmt::format("{}", options_.podSeconds),
      "--start-seconds",   fmt::format("{}", options_.startSeconds)};
  if (!options_.token.empty()) argv.insert(argv.end(), {"--token", options_.token});
  if (!options_.crds) argv.push_back("--no-crds");
  if (options_.tls) {
    makeCertificates();
    argv.insert(argv.end(), {"--tls-cert", (dir_ / "server.crt").string(), "--tls-key",
                             (dir_ / "server.key").string()});
    if (options_.clientCertificates) {
      argv.insert(argv.end(), {"--client-ca", (dir_ / "ca.crt").string()});
    }
  }
  SpawnOptions spawn;
  spawn.stdoutFile = dir_ / "server.log";
  spawn.stderrFile = dir_ / "server.log";
  spawn.dieWithParent = true;
  process_ = std::make_unique<Subprocess>(argv, spawn);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!fs::exists(dir_ / "port")) {
    if (std::chrono::steady_clock::now() > deadline || !process_->running()) {
      throw Error("the fake API server did not start: " + readFile(dir_ / "server.log"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  port_ = std::stoi(readFile(dir_ / "port"));
}

FakeApiServer::~FakeApiServer() {
  if (process_) process_->stop(std::chrono::seconds(2));
}

std::string FakeApiServer::url() const {
  return fmt::format("{}://127.0.0.1:{}", options_.tls ? "https" : "http", port_);
}

fs::path FakeApiServer::writeKubeconfig(const std::string& ns, const std::string& token) const {
  std::string cluster = fmt::format("    server: {}\n", url());
  if (options_.tls) {
    cluster += fmt::format("    certificate-authority-data: {}\n",
                           image::base64Encode(readFile(dir_ / "ca.crt")));
  }
  std::string user = token.empty() ? "    {}\n" : fmt::format("    token: {}\n", token);
  if (token.empty() && options_.clientCertificates) {
    // Relative paths: kubectl reads them relative to the kubeconfig.
    user = "    client-certificate: client.crt\n    client-key: client.key\n";
  }
  return dir_.write("kubeconfig",
                    fmt::format("apiVersion: v1\nkind: Config\ncurrent-context: test\n"
                                "contexts:\n- name: test\n  context:\n    cluster: fake\n"
                                "    user: tester\n    namespace: {}\n"
                                "clusters:\n- name: fake\n  cluster:\n{}"
                                "users:\n- name: tester\n  user:\n{}",
                                ns, cluster, user));
}

std::string FakeApiServer::request(const std::string& method, const std::string& path,
                                   const std::string& body) const {
  http::ClientOptions tls;
  if (options_.tls) tls.caFile = (dir_ / "ca.crt").string();
  http::Client client(tls);
  http::Request request;
  request.method = method;
  request.url = url() + path;
  request.body = body;
  const auto response = client.send(request);
  if (response.status != 200 && response.status != 201) {
    throw Error(
        fmt::format("fake control {} answered {}: {}", path, response.status, response.body));
  }
  return response.body;
}

nlohmann::json FakeApiServer::requests() const {
  return nlohmann::json::parse(request("GET", "/fake/requests", ""));
}

void FakeApiServer::control(const std::string& path, const nlohmann::json& body) const {
  request("POST", "/fake/" + path, body.dump());
}

void writeProject(const TempDir& dir, const std::string& skiffYaml) {
  dir.write("skiff.yaml", skiffYaml);
  dir.write(
      ".skiff/build.json",
      R"({"repository":"registry.example.com/app","tags":["abc1234"],)"
      R"("digest":"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",)"
      R"("imageId":"sha256:00","builder":"buildah","time":"2026-11-29T00:00:00Z",)"
      R"("contextHash":"sha256:00","pushed":true,)"
      R"("serveImage":"registry.example.com/app@sha256:24c458cfb46d9a456d314c7897601e51578e43c1f9dc007adf1a745bbc15e0f5"})");
}

}  // namespace skiff::testing
