#pragma once

// Where the dashboard's data comes from: the local target's state database
// and log files, or a Kubernetes cluster through its API server. The page
// and its JSON API are the same over both; what only one target has (the
// run history is kept by the local target) is absent on the other.

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "http/http_client.hpp"
#include "http/request_error.hpp"
#include "spec/spec.hpp"

namespace skiff::deploy::local {
class StateDb;
}

namespace skiff::dashboard {

// A request the source cannot answer as asked: the HTTP status says why.
using http::RequestError;

// A `skiff serve` of the project.
struct ModelServer {
  std::string name;      // its service entry
  std::string endpoint;  // where it is, for people
  std::string href;      // a link a browser can open; empty when there is none (k8s)
  bool live = true;      // running: sampled for the health charts
};

// Every method may be called from the page's thread and the sampler's at
// once; sources serialize what must be.
class Source {
 public:
  virtual ~Source() = default;
  virtual std::string target() const = 0;  // "local" or "k8s"
  // /api/status: what `skiff status --json` prints, with "target" added.
  virtual nlohmann::json status() = 0;
  // /api/logs: {"name", "replicas": {replica: [last lines]}} of a job,
  // service or the notebook (local: also "run", the run they belong to; `run`
  // asks for an earlier one). RequestError for an unknown name.
  virtual nlohmann::json logs(const std::string& name, size_t lines,
                              std::optional<int64_t> run) = 0;
  virtual std::vector<ModelServer> modelServers() = 0;
  // GET `path` of a model server; a transport failure throws.
  virtual http::Response fetch(const ModelServer& server, const std::string& path) = 0;
  // The run history, where the target keeps one (local); else nullptr.
  virtual deploy::local::StateDb* history() { return nullptr; }
};

std::unique_ptr<Source> makeLocalSource(const std::filesystem::path& projectDir);
// The project's release in `namespaceName` (empty: the kubeconfig context's).
std::unique_ptr<Source> makeK8sSource(const spec::Spec& spec, const std::string& namespaceName);

}  // namespace skiff::dashboard
