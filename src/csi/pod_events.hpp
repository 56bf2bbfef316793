#pragma once

// News of a pod's volumes for the pod's own events: a mount process that
// dies leaves the pod reading ENOTCONN, and the person looking at the pod
// (`kubectl describe pod`, `skiff status`) must see why, not only the
// plugin's log on the node. The plugin posts them with its service account
// (install.cpp gives it events create and patch, and nothing else).

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "csi/node_plugin.hpp"
#include "csi/volumes.hpp"
#include "deploy/k8s/kubeconfig.hpp"

namespace skiff::csi {

// The plugin's access to the API: its pod's service account, at `apiServer`
// when given (a cluster whose Service addresses do not route from the node,
// such as one without kube-proxy), else at KUBERNETES_SERVICE_HOST. Nothing
// when the plugin runs with no token (outside a pod): its news is logged only;
// skiff::Error when the token is there but no address (inClusterAccess).
std::optional<deploy::k8s::ClusterAccess> pluginApiAccess(const std::string& apiServer);

// The Event for `volume`'s pod saying that its mount died (a core/v1 Event,
// named after the pod and the mount process, so that a plugin restarted
// later posts the same one again rather than a second).
nlohmann::json mountDiedEvent(const Volume& volume, const std::string& nodeId,
                              const std::string& logFile);

class PodEvents {
 public:
  PodEvents(deploy::k8s::ClusterAccess access, std::string nodeId);

  // Posts mountDiedEvent on the volume's pod. False, and logged, when the
  // volume names no pod or the API refuses.
  bool mountDied(const Volume& volume, const std::string& logFile);

 private:
  deploy::k8s::ClusterAccess access_;
  std::string nodeId_;
};

}  // namespace skiff::csi
