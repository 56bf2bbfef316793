#pragma once

// A real Kubernetes control plane for tests: Debian's etcd, kube-apiserver
// and kube-controller-manager 1.20.2 (built once per machine from Debian's
// source package by scripts/kube-apiserver), on free loopback ports, TLS with
// a CA and certificates made by openssl, RBAC on. There is no scheduler and
// no kubelet: pods stay Pending, with no node, as on a cluster without room.
// One cluster per test binary (KubeCluster::shared()); each test takes a
// namespace of its own.

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/subprocess.hpp"
#include "harness/temp_dir.hpp"

namespace skiff::testing {

class KubeCluster {
 public:
  // Who a kubeconfig or a request acts as.
  enum class User {
    kAdmin,       // bearer token, group system:masters
    kAdminCert,   // client certificate (CN skiff-cert-admin, O system:masters)
    kViewer,      // bearer token, no rights but what a test binds to "skiff-viewer"
    kWrongToken,  // a token the server does not know (401)
  };

  static KubeCluster& shared();
  ~KubeCluster();

  std::string url() const;  // https://127.0.0.1:PORT
  const TempDir& dir() const { return dir_; }
  std::filesystem::path caFile() const { return dir_ / "ca.crt"; }

  // Writes a kubeconfig (context "test", namespace `ns`) for `user` into
  // `into` and returns its path; client certificates are files relative to it.
  std::filesystem::path writeKubeconfig(const TempDir& into, const std::string& ns,
                                        User user = User::kAdmin) const;

  struct Response {
    long status = 0;
    std::string body;
    nlohmann::json parsed() const;  // the body parsed (discarded when it is no JSON)
  };
  // A request as the admin, for a test to set up or look at the cluster.
  Response request(const std::string& method, const std::string& path, const std::string& body = {},
                   const std::string& contentType = "application/json") const;
  // As request, but fails the test (throws) unless the answer is 2xx.
  nlohmann::json call(const std::string& method, const std::string& path,
                      const nlohmann::json& body = nullptr) const;

  // A fresh namespace (skiff-test-XXXXX), so tests never see each other's objects.
  std::string createNamespace() const;
  // Creates the CustomResourceDefinitions of TFJob, PyTorchJob and
  // SparkApplication (from the schemas in tests/deploy/k8s/crds, made
  // structural) once, and waits until the server serves them.
  void installCrds();
  // Deletes those CRDs (and so every object of their kinds), and waits
  // until the server no longer serves them: a cluster without the operators.
  void removeCrds();

  std::string log() const;  // the API server's log, for failure messages

 private:
  KubeCluster();
  void makeCertificates() const;
  void waitReady() const;

  TempDir dir_{"skiff-kube"};
  std::string adminToken_;
  std::string viewerToken_;
  int etcdPort_ = 0;
  int port_ = 0;
  bool crdsInstalled_ = false;
  // Stopped in reverse order: the controllers, the API server, then etcd.
  std::unique_ptr<Subprocess> etcd_;
  std::unique_ptr<Subprocess> apiserver_;
  std::unique_ptr<Subprocess> controllers_;
};

// The structural openAPIV3Schema of a CRD from one of the validator's
// schemas (tests/deploy/k8s/crds/NAME.json): what a real server can check
// (types, enums, required fields); embedded core types are kept as objects.
nlohmann::json structuralSchema(const nlohmann::json& schema);

}  // namespace skiff::testing
