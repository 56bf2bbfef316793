#pragma once

// What `skiff csi install` applies to a cluster: the CSIDriver object, the
// node plugin's ServiceAccount, its ClusterRole and binding, and its
// DaemonSet. Kubelet hands the plugin each volume's Secret; the only API call
// it makes is an Event on a pod whose mount died, so that is all its role
// allows.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace skiff::csi {

struct InstallOptions {
  std::string image;                            // an image holding skiff at /usr/local/bin/skiff
  std::string kubeletDir = "/var/lib/kubelet";  // the node's kubelet --root-dir
  std::string namespaceName = "kube-system";
  std::string apiServer;  // for the plugin's events; empty: the in-cluster Service
};

// The objects in the order they are applied (and the reverse of removal).
std::vector<nlohmann::json> driverObjects(const InstallOptions& options);

// Where the node plugin, inside its pod, sees the host's cgroup file
// system: each mount process leaves the plugin container's cgroup for one of
// its own there, so that the runtime's cleanup of a dead plugin container
// (it kills every process of the container's cgroup) spares the mounts.
inline constexpr const char* kHostCgroupMountPath = "/host/sys/fs/cgroup";

}  // namespace skiff::csi
