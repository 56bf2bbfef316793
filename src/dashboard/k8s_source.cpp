// The dashboard over the Kubernetes target: the release's objects and pods
// through the same API client `skiff status --target k8s` and `skiff logs`
// use, and each `skiff serve` through the API server's service proxy (the
// dashboard runs outside the cluster, with the kubeconfig's credentials).

#include <fmt/format.h>

#include <mutex>

#include "dashboard/source.hpp"
#include "deploy/k8s/kubeconfig.hpp"
#include "deploy/k8s/release_view.hpp"
#include "deploy/k8s/render.hpp"

namespace skiff::dashboard {
namespace {

using nlohmann::json;

class K8sSource : public Source {
 public:
  K8sSource(spec::Spec spec, const std::string& namespaceName)
      : spec_(std::move(spec)), client_(deploy::k8s::loadKubeconfig(), namespaceName) {}

  std::string target() const override { return "k8s"; }

  json status() override {
    std::lock_guard lock(mutex_);
    auto view = deploy::k8s::viewRelease(client_, spec_.name);
    json names = json::array();
    for (const auto& [name, unused] : spec_.jobs) names.push_back(name);
    for (const auto& [name, unused] : spec_.services) names.push_back(name);
    if (spec_.notebook) names.push_back("notebook");
    json status = {{"target", target()},
                   {"project", spec_.name},
                   {"namespace", client_.namespaceName()},
                   {"context", client_.access().context},
                   {"server", client_.access().server},
                   {"names", names},
                   {"objects", view.objects},
                   {"hidden", view.hidden},
                   {"pods", deploy::k8s::viewPods(client_, spec_.name)}};
    if (view.objects.empty() && client_.namespaceExists() == false) {
      status["error"] = fmt::format("namespace \"{}\" does not exist (context {})",
                                    client_.namespaceName(), client_.access().context);
    }
    return status;
  }

  json logs(const std::string& name, size_t lines, std::optional<int64_t> run) override {
    if (run) throw RequestError(400, "runs are kept by the local target only: drop run=");
    try {
      deploy::k8s::entryOf(spec_, name);
    } catch (const Error& e) {
      throw RequestError(404, e.what());  // not an entry of skiff.yaml: it lists them
    }
    std::lock_guard lock(mutex_);
    return {{"name", name}, {"replicas", deploy::k8s::logTails(client_, spec_, name, lines)}};
  }

  std::vector<ModelServer> modelServers() override {
    std::vector<ModelServer> servers;
    for (const auto& [name, service] : spec_.services) {
      if (service.kind != spec::ServiceKind::kServe) continue;
      const std::string object = deploy::k8s::objectName(spec_, name);
      servers.push_back(
          {name, client_.access().server + client_.proxyUrl(object, "http", ""), "", true});
    }
    return servers;
  }

  http::Response fetch(const ModelServer& server, const std::string& path) override {
    std::lock_guard lock(mutex_);
    return client_.proxyGet(deploy::k8s::objectName(spec_, server.name), "http", path);
  }

 private:
  spec::Spec spec_;
  std::mutex mutex_;  // one API client for the page's thread and the sampler
  deploy::k8s::KubeClient client_;
};

}  // namespace

std::unique_ptr<Source> makeK8sSource(const spec::Spec& spec, const std::string& namespaceName) {
  return std::make_unique<K8sSource>(spec, namespaceName);
}

}  // namespace skiff::dashboard
