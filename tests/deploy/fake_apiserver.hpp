#pragma once

// The fake Kubernetes API server (k8s/fake_apiserver.py) as a test fixture:
// started on a loopback port, plain HTTP or TLS with a CA and certificates
// made by openssl for the test, with a kubeconfig that reaches it.

#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/subprocess.hpp"
#include "harness/temp_dir.hpp"

namespace skiff::testing {

class FakeApiServer {
 public:
  struct Options {
    bool tls = false;
    std::string token = "test-token";  // empty: no bearer token accepted
    bool clientCertificates = false;   // TLS: also accept client certificates of the test CA
    double jobSeconds = 0.3;           // < 0: jobs never finish
    double rolloutSeconds = 0.3;
    double podSeconds = 0;    // how long a Job's pod takes to appear
    double startSeconds = 0;  // how long pods stay Pending (no node, no log: 204)
    int dropWatches = 0;      // close the first N watch connections mid-stream
    int expireWatches = 0;    // answer the first N watches from a resourceVersion with 410 Gone
    bool crds = true;         // serve kubeflow.org and sparkoperator.k8s.io
  };

  explicit FakeApiServer(Options options);
  FakeApiServer() : FakeApiServer(Options{}) {}
  ~FakeApiServer();

  std::string url() const;  // http(s)://127.0.0.1:PORT
  const TempDir& dir() const { return dir_; }

  // A kubeconfig for this server: namespace `ns`, bearer `token` (or, when
  // empty and the server has client certificates, the test client's
  // certificate and key as files relative to the kubeconfig).
  std::filesystem::path writeKubeconfig(const std::string& ns = "team",
                                        const std::string& token = "test-token") const;

  nlohmann::json requests() const;  // what the server was asked, in order
  // Control endpoints: POST /fake/NAME with a JSON body.
  void control(const std::string& path, const nlohmann::json& body) const;

 private:
  std::string request(const std::string& method, const std::string& path,
                      const std::string& body) const;
  void makeCertificates() const;

  Options options_;
  TempDir dir_{"skiff-fake-k8s"};
  std::unique_ptr<Subprocess> process_;
  int port_ = 0;
};

// A project directory with skiff.yaml and a build record (so release needs no build).
void writeProject(const TempDir& dir, const std::string& skiffYaml);

}  // namespace skiff::testing
