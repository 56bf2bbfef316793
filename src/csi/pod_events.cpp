#include "csi/pod_events.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "common/text.hpp"
#include "csi/node_plugin.hpp"
#include "deploy/k8s/client.hpp"

namespace skiff::csi {

namespace {

using nlohmann::json;
namespace k8s = deploy::k8s;

constexpr const char* kAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

}  // namespace

std::optional<k8s::ClusterAccess> pluginApiAccess(const std::string& apiServer) {
  if (!std::filesystem::exists(std::string(kAccountDir) + "/token")) return std::nullopt;
  return k8s::inClusterAccess(kAccountDir, apiServer);  // says when it is no pod's
}

json mountDiedEvent(const Volume& volume, const std::string& nodeId, const std::string& logFile) {
  const std::string now = utcNow("%Y-%m-%dT%H:%M:%SZ");  // RFC 3339
  const std::string message = fmt::format(
      "volume {} at {}: its skiff mount (pid {} on node {}) has died. The pod's reads and writes "
      "of it fail with ENOTCONN (\"Transport endpoint is not connected\") from now on. Delete the "
      "pod (its controller makes a new one): what the mount had not stored stays on the node, for "
      "the next read-write mount of the store there to upload or recover. The mount's log on the "
      "node: {}",
      volume.uri, volume.targetPath, volume.pid, nodeId, logFile);
  return {
      {"apiVersion", "v1"},
      {"kind", "Event"},
      {"metadata",
       {{"name", fmt::format("{}.skiff-mount-{}-{}", volume.podName, volume.pid, volume.started)},
        {"namespace", volume.podNamespace}}},
      {"involvedObject",
       {{"apiVersion", "v1"},
        {"kind", "Pod"},
        {"name", volume.podName},
        {"namespace", volume.podNamespace},
        {"uid", volume.podUid}}},
      {"reason", kMountDiedReason},
      {"message", message},
      {"type", "Warning"},
      {"source", {{"component", kDriverName}, {"host", nodeId}}},
      {"reportingComponent", kDriverName},
      {"reportingInstance", nodeId},
      {"firstTimestamp", now},
      {"lastTimestamp", now},
      {"count", 1}};
}

PodEvents::PodEvents(k8s::ClusterAccess access, std::string nodeId)
    : access_(std::move(access)), nodeId_(std::move(nodeId)) {}

bool PodEvents::mountDied(const Volume& volume, const std::string& logFile) {
  if (volume.podName.empty() || volume.podNamespace.empty()) {
    spdlog::warn("volume {}: kubelet named no pod for it, so no pod event says its mount died",
                 volume.volumeId);
    return false;
  }
  try {
    k8s::KubeClient client(access_, volume.podNamespace);
    client.apply(client.resource("v1", "Event"), mountDiedEvent(volume, nodeId_, logFile), true);
    spdlog::info("told pod {}/{} that the mount of volume {} died", volume.podNamespace,
                 volume.podName, volume.volumeId);
    return true;
  } catch (const std::exception& error) {
    spdlog::error("volume {}: cannot post the event on pod {}/{}: {}", volume.volumeId,
                  volume.podNamespace, volume.podName, error.what());
    return false;
  }
}

}  // namespace skiff::csi
