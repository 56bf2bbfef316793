#pragma once

// `skiff csi node`: the CSI node plugin. It serves CSI's Identity and Node
// services on a unix socket, and kubelet's plugin registration on a socket
// in kubelet's plugins_registry directory (so no node-driver-registrar
// sidecar is needed). Each published volume is a `skiff mount` (volumes.hpp);
// one whose process dies is told to its pod's events (pod_events.hpp).

#include <filesystem>
#include <string>

namespace skiff::csi {

inline constexpr const char* kDriverName = "csi.skiff.dev";
// The reason of the Warning event a pod gets when its skiff mount dies.
inline constexpr const char* kMountDiedReason = "SkiffMountDied";

struct NodePluginOptions {
  std::string endpoint;  // unix:///PATH/csi.sock
  std::string nodeId;
  std::string driverName = kDriverName;
  // Where kubelet looks for plugins' registration sockets; empty: no
  // registration (a test that calls the plugin itself).
  std::filesystem::path registrationDir;
  std::filesystem::path stateDir = "/var/lib/skiff-csi";
  std::filesystem::path skiffBinary;  // empty: this binary (/proc/self/exe)
  // The host's cgroup file system (cgroups.hpp); empty: mounts stay in the
  // plugin's cgroup (a plugin that is no container's).
  std::filesystem::path mountCgroupRoot;
  // The API server the plugin posts pod events at (pod_events.hpp); empty:
  // the in-cluster Service's address.
  std::string apiServer;
};

// Serves until SIGTERM or SIGINT; throws skiff::Error when it cannot start.
// Mounts stay up when it ends, whichever way it ends: a restarted plugin
// takes them over from the state directory.
int runNodePlugin(const NodePluginOptions& options);

}  // namespace skiff::csi
