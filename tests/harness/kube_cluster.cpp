#include "harness/kube_cluster.hpp"

#include <fmt/format.h>

#include <cctype>
#include <chrono>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "common/net.hpp"
#include "harness/test_certificates.hpp"
#include "http/http_client.hpp"

namespace skiff::testing {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string readFile(const fs::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string envOr(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

std::string randomToken() {
  std::random_device device;
  std::string token;
  for (int i = 0; i < 32; ++i) token += "0123456789abcdef"[device() % 16];
  return token;
}

// The folder of kube-apiserver and kube-controller-manager: SKIFF_KUBE_BIN,
// or what scripts/kube-apiserver built (it builds them when they are missing,
// which takes minutes once per machine).
std::string kubeBinaries() {
  if (const char* bin = std::getenv("SKIFF_KUBE_BIN"); bin && *bin) return bin;
  SpawnOptions options;
  const auto result =
      runCommand({SKIFF_SOURCE_DIR "/scripts/kube-apiserver", "--print-bin"}, options);
  if (result.exitCode != 0) {
    throw std::runtime_error("scripts/kube-apiserver could not build kube-apiserver:\n" +
                             result.err);
  }
  std::string bin = result.out;
  while (!bin.empty() && (bin.back() == '\n' || bin.back() == ' ')) bin.pop_back();
  return bin;
}

// Where etcd keeps its data: memory when the machine has /dev/shm (etcd
// fsyncs every write, which is slow on a busy disk and pointless for tests).
fs::path etcdDataDir(const TempDir& dir) {
  if (fs::is_directory("/dev/shm")) {
    return fs::path("/dev/shm") / ("skiff-etcd-" + dir.path().filename().string());
  }
  return dir / "etcd";
}

std::unique_ptr<Subprocess> spawn(const std::vector<std::string>& argv, const fs::path& log) {
  SpawnOptions options;
  options.stdoutFile = log;
  options.stderrFile = log;
  options.dieWithParent = true;
  return std::make_unique<Subprocess>(argv, options);
}

std::string lastLines(const std::string& text, size_t lines = 40) {
  size_t at = text.size();
  for (size_t i = 0; i <= lines && at != std::string::npos && at > 0; ++i) {
    at = text.rfind('\n', at - 1);
  }
  return at == std::string::npos ? text : text.substr(at + 1);
}

}  // namespace

json KubeCluster::Response::parsed() const {
  return json::parse(body, nullptr, false);
}

void KubeCluster::makeCertificates() const {
  makeTestCertificates(
      dir_.path(), "/CN=skiff test cluster CA",
      {{"server", "/CN=127.0.0.1",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"},
       {"client", "/O=system:masters/CN=skiff-cert-admin", "extendedKeyUsage=clientAuth\n"}});
  // Service account tokens are signed with an RSA key.
  openssl({"genrsa", "-out", "sa.key", "2048"}, dir_.path());
  openssl({"rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"}, dir_.path());
}

KubeCluster::KubeCluster() : adminToken_(randomToken()), viewerToken_(randomToken()) {
  const std::string bin = kubeBinaries();
  makeCertificates();
  dir_.write("tokens.csv", fmt::format("{},skiff-admin,1,system:masters\n{},skiff-viewer,2\n",
                                       adminToken_, viewerToken_));

  etcdPort_ = freeLoopbackPort();
  const int peerPort = freeLoopbackPort();
  const auto etcdData = etcdDataDir(dir_);
  const std::string etcdUrl = fmt::format("http://127.0.0.1:{}", etcdPort_);
  const std::string peerUrl = fmt::format("http://127.0.0.1:{}", peerPort);
  etcd_ = spawn({envOr("SKIFF_ETCD", "etcd"), "--name", "skiff", "--data-dir", etcdData.string(),
                 "--listen-client-urls", etcdUrl, "--advertise-client-urls", etcdUrl,
                 "--listen-peer-urls", peerUrl, "--initial-advertise-peer-urls", peerUrl,
                 "--initial-cluster", "skiff=" + peerUrl, "--log-level", "warn", "--logger", "zap"},
                dir_ / "etcd.log");

  port_ = freeLoopbackPort();
  const auto file = [this](const char* name) { return (dir_ / name).string(); };
  apiserver_ = spawn(
      {bin + "/kube-apiserver", "--etcd-servers=" + etcdUrl, "--bind-address=127.0.0.1",
       "--advertise-address=127.0.0.1", fmt::format("--secure-port={}", port_), "--insecure-port=0",
       "--tls-cert-file=" + file("server.crt"), "--tls-private-key-file=" + file("server.key"),
       "--client-ca-file=" + file("ca.crt"), "--token-auth-file=" + file("tokens.csv"),
       "--authorization-mode=RBAC", "--service-account-key-file=" + file("sa.pub"),
       "--service-account-signing-key-file=" + file("sa.key"),
       "--service-account-issuer=https://kubernetes.default.svc",
       "--service-cluster-ip-range=10.96.0.0/24",
       // Pods need no service account token here: nothing runs them.
       "--disable-admission-plugins=ServiceAccount",
       // The `kubernetes` Service's endpoints would be the loopback address.
       "--endpoint-reconciler-type=none", "--cert-dir=" + file("certs"), "--profiling=false",
       "--v=1"},
      dir_ / "apiserver.log");

  const std::string config = fmt::format(
      "apiVersion: v1\nkind: Config\ncurrent-context: admin\n"
      "clusters:\n- name: test\n  cluster:\n    server: {}\n    certificate-authority: {}\n"
      "users:\n- name: admin\n  user:\n    client-certificate: {}\n    client-key: {}\n"
      "contexts:\n- name: admin\n  context: {{cluster: test, user: admin}}\n",
      url(), file("ca.crt"), file("client.crt"), file("client.key"));
  dir_.write("controller-manager.kubeconfig", config);
  waitReady();
  controllers_ = spawn(
      {bin + "/kube-controller-manager", "--kubeconfig=" + file("controller-manager.kubeconfig"),
       "--bind-address=127.0.0.1", fmt::format("--secure-port={}", freeLoopbackPort()), "--port=0",
       "--leader-elect=false", "--cert-dir=" + file("certs"),
       "--service-account-private-key-file=" + file("sa.key"), "--root-ca-file=" + file("ca.crt"),
       "--use-service-account-credentials=false", "--profiling=false", "--v=1"},
      dir_ / "controller-manager.log");
}

KubeCluster::~KubeCluster() {
  if (controllers_) controllers_->stop(std::chrono::seconds(3));
  if (apiserver_) apiserver_->stop(std::chrono::seconds(5));
  if (etcd_) etcd_->stop(std::chrono::seconds(3));
  std::error_code ignored;
  if (fs::path data = etcdDataDir(dir_); data.string().rfind("/dev/shm/", 0) == 0) {
    fs::remove_all(data, ignored);
  }
}

KubeCluster& KubeCluster::shared() {
  static KubeCluster instance;
  return instance;
}

std::string KubeCluster::url() const {
  return fmt::format("https://127.0.0.1:{}", port_);
}

std::string KubeCluster::log() const {
  return lastLines(readFile(dir_ / "apiserver.log"));
}

void KubeCluster::waitReady() const {
  // A cold start on a busy 2-core machine takes tens of seconds.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
  std::string last;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!etcd_->running()) {
      throw std::runtime_error("etcd exited; its log:\n" + lastLines(readFile(dir_ / "etcd.log")));
    }
    if (!apiserver_->running()) {
      throw std::runtime_error("kube-apiserver exited; its log:\n" + log());
    }
    try {
      const auto response = request("GET", "/readyz");
      if (response.status == 200) return;
      last = fmt::format("{} {}", response.status, response.body);
    } catch (const std::exception& e) {
      last = e.what();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  throw std::runtime_error("kube-apiserver was not ready after 180 s (/readyz: " + last +
                           "); its log:\n" + log());
}

KubeCluster::Response KubeCluster::request(const std::string& method, const std::string& path,
                                           const std::string& body,
                                           const std::string& contentType) const {
  http::ClientOptions options;
  options.caFile = caFile().string();
  http::Client client(options);
  http::Request request;
  request.method = method;
  request.url = url() + path;
  request.body = body;
  request.headers = {{"Authorization", "Bearer " + adminToken_}, {"Accept", "application/json"}};
  if (!body.empty()) request.headers.emplace_back("Content-Type", contentType);
  const auto response = client.send(request);
  return {response.status, response.body};
}

json KubeCluster::call(const std::string& method, const std::string& path, const json& body) const {
  const auto response = request(method, path, body.is_null() ? "" : body.dump());
  if (response.status < 200 || response.status > 299) {
    throw std::runtime_error(
        fmt::format("{} {} answered {}: {}", method, path, response.status, response.body));
  }
  return response.parsed();
}

fs::path KubeCluster::writeKubeconfig(const TempDir& into, const std::string& ns, User user) const {
  std::string credentials;
  switch (user) {
    case User::kAdmin:
      credentials = "    token: " + adminToken_ + "\n";
      break;
    case User::kViewer:
      credentials = "    token: " + viewerToken_ + "\n";
      break;
    case User::kWrongToken:
      credentials = "    token: not-" + adminToken_ + "\n";
      break;
    case User::kAdminCert:
      // Relative paths, as kubectl reads them: relative to the kubeconfig.
      fs::copy_file(dir_ / "client.crt", into / "client.crt", fs::copy_options::overwrite_existing);
      fs::copy_file(dir_ / "client.key", into / "client.key", fs::copy_options::overwrite_existing);
      credentials = "    client-certificate: client.crt\n    client-key: client.key\n";
      break;
  }
  return into.write("kubeconfig",
                    fmt::format("apiVersion: v1\nkind: Config\ncurrent-context: test\n"
                                "contexts:\n- name: test\n  context:\n    cluster: kube\n"
                                "    user: tester\n    namespace: {}\n"
                                "clusters:\n- name: kube\n  cluster:\n    server: {}\n"
                                "    certificate-authority: {}\n"
                                "users:\n- name: tester\n  user:\n{}",
                                ns, url(), caFile().string(), credentials));
}

std::string KubeCluster::createNamespace() const {
  const json created = call("POST", "/api/v1/namespaces",
                            {{"apiVersion", "v1"},
                             {"kind", "Namespace"},
                             {"metadata", {{"generateName", "skiff-test-"}}}});
  return created["metadata"]["name"];
}

json structuralSchema(const json& schema) {
  if (!schema.is_object()) return schema;
  if (schema.contains("x-skiff-model")) {
    // An embedded core type (pod template, volume, ...): the validator checks
    // it with the Kubernetes models; the published CRDs spell it out.
    return {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}};
  }
  json result = json::object();
  for (const auto& [key, value] : schema.items()) {
    if (key == "const") {
      result["enum"] = json::array({value});
    } else if (key == "properties") {
      json properties = json::object();
      for (const auto& [name, property] : value.items()) {
        properties[name] = structuralSchema(property);
      }
      result["properties"] = properties;
    } else if (key == "additionalProperties") {
      // `false` is the validator's strictness (a server prunes unknown
      // fields instead); a schema for a map's values stays.
      if (value.is_object()) result["additionalProperties"] = structuralSchema(value);
    } else if (key == "items") {
      result["items"] = structuralSchema(value);
    } else if (key == "propertyNames") {
      continue;  // not in CRD schemas: the roles are the validator's check
    } else if (key == "type" && value.is_array()) {
      result["x-kubernetes-int-or-string"] = true;  // a quantity: 2 or "500m"
    } else {
      result[key] = value;
    }
  }
  if (!result.contains("type") && !result.contains("x-kubernetes-int-or-string")) {
    result["type"] = result.contains("enum") && result["enum"][0].is_string() ? "string" : "object";
  }
  return result;
}

namespace {

struct Crd {
  const char* file;
  const char* group;
  const char* version;
  const char* kind;
  const char* plural;
  const char* approval;  // *.k8s.io groups need the api-approved annotation
};
// The published CRDs: Kubeflow training-operator v1, Spark operator v1beta2
// (whose CRD carries api-approved.kubernetes.io, without which a real server
// refuses a CRD in a *.k8s.io group).
const Crd kCrds[] = {
    {"tfjob", "kubeflow.org", "v1", "TFJob", "tfjobs", nullptr},
    {"pytorchjob", "kubeflow.org", "v1", "PyTorchJob", "pytorchjobs", nullptr},
    {"sparkapplication", "sparkoperator.k8s.io", "v1beta2", "SparkApplication", "sparkapplications",
     "https://github.com/kubeflow/spark-operator/pull/1298"},
};

json condition() {
  const json time = {{"type", "string"}, {"format", "date-time"}};
  return {{"type", "object"},
          {"required", {"type", "status"}},
          {"properties",
           {{"type", {{"type", "string"}}},
            {"status", {{"type", "string"}}},
            {"reason", {{"type", "string"}}},
            {"message", {{"type", "string"}}},
            {"lastUpdateTime", time},
            {"lastTransitionTime", time}}}};
}

// The status the operators write, as their published CRDs define it, so
// that a test writing an operator's status is checked as the operator's is.
json statusSchema(const std::string& kind) {
  const json time = {{"type", "string"}, {"format", "date-time"}};
  const json int32 = {{"type", "integer"}, {"format", "int32"}};
  if (kind == "SparkApplication") {
    return {
        {"type", "object"},
        {"required", {"driverInfo"}},
        {"properties",
         {{"applicationState",
           {{"type", "object"},
            {"required", {"state"}},
            {"properties",
             {{"state", {{"type", "string"}}}, {"errorMessage", {{"type", "string"}}}}}}},
          {"driverInfo",
           {{"type", "object"},
            {"properties",
             {{"podName", {{"type", "string"}}},
              {"webUIAddress", {{"type", "string"}}},
              {"webUIPort", int32},
              {"webUIServiceName", {{"type", "string"}}}}}}},
          {"executionAttempts", int32},
          {"submissionAttempts", int32},
          {"executorState", {{"type", "object"}, {"additionalProperties", {{"type", "string"}}}}},
          {"lastSubmissionAttemptTime", time},
          {"terminationTime", time},
          {"sparkApplicationId", {{"type", "string"}}},
          {"submissionID", {{"type", "string"}}}}}};
  }
  // TFJob and PyTorchJob: the training operator's JobStatus.
  const json replicaStatus = {
      {"type", "object"},
      {"properties", {{"active", int32}, {"succeeded", int32}, {"failed", int32}}}};
  json properties = json::object();
  properties["conditions"] = {{"type", "array"}, {"items", condition()}};
  properties["replicaStatuses"] = {{"type", "object"}, {"additionalProperties", replicaStatus}};
  properties["startTime"] = time;
  properties["completionTime"] = time;
  properties["lastReconcileTime"] = time;
  return {{"type", "object"}, {"properties", properties}};
}

}  // namespace

void KubeCluster::removeCrds() {
  for (const auto& crd : kCrds) {
    const std::string path = fmt::format(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{}.{}", crd.plural, crd.group);
    const auto response = request("DELETE", path);
    if (response.status != 200 && response.status != 404) {
      throw std::runtime_error(fmt::format("deleting the CRD of {} answered {}: {}", crd.kind,
                                           response.status, response.body));
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (const auto& crd : kCrds) {
    const std::string path = fmt::format(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{}.{}", crd.plural, crd.group);
    while (request("GET", path).status != 404 ||
           request("GET", fmt::format("/apis/{}/{}", crd.group, crd.version))
                   .body.find(fmt::format("\"kind\":\"{}\"", crd.kind)) != std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error(
            fmt::format("the server still serves {} 60 s after its CRD was deleted", crd.kind));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  crdsInstalled_ = false;
}

void KubeCluster::installCrds() {
  if (crdsInstalled_) return;
  const auto& crds = kCrds;
  for (const auto& crd : crds) {
    const json schema = json::parse(readFile(fs::path(SKIFF_SOURCE_DIR) / "tests/deploy/k8s/crds" /
                                             (crd.file + std::string(".json"))));
    json structural = structuralSchema(schema);
    structural["properties"]["metadata"] = {{"type", "object"}};
    structural["properties"]["status"] = statusSchema(crd.kind);
    std::string kind = crd.kind;
    std::string singular;
    for (const char c : kind) singular += static_cast<char>(std::tolower(c));
    json object = {
        {"apiVersion", "apiextensions.k8s.io/v1"},
        {"kind", "CustomResourceDefinition"},
        {"metadata", {{"name", std::string(crd.plural) + "." + crd.group}}},
        {"spec",
         {{"group", crd.group},
          {"scope", "Namespaced"},
          {"names",
           {{"kind", kind},
            {"listKind", kind + "List"},
            {"plural", crd.plural},
            {"singular", singular}}},
          {"versions", json::array({{{"name", crd.version},
                                     {"served", true},
                                     {"storage", true},
                                     {"schema", {{"openAPIV3Schema", structural}}},
                                     {"subresources", {{"status", json::object()}}}}})}}}};
    if (crd.approval) {
      object["metadata"]["annotations"] = {{"api-approved.kubernetes.io", crd.approval}};
    }
    const auto response =
        request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", object.dump());
    if (response.status != 201 && response.status != 409) {
      throw std::runtime_error(fmt::format("creating the CRD of {} answered {}: {}", crd.kind,
                                           response.status, response.body));
    }
  }
  // Established, and in discovery, before a test's release looks for them.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (const auto& crd : crds) {
    const std::string path = fmt::format("/apis/{}/{}", crd.group, crd.version);
    while (true) {
      const auto response = request("GET", path);
      if (response.status == 200 &&
          response.body.find(fmt::format("\"kind\":\"{}\"", crd.kind)) != std::string::npos) {
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error(
            fmt::format("the server does not serve {} 60 s after its CRD was created: {} {}",
                        crd.kind, response.status, response.body));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  crdsInstalled_ = true;
}

}  // namespace skiff::testing
