#include "csi/install.hpp"

#include "csi/node_plugin.hpp"

namespace skiff::csi {

namespace {

using nlohmann::json;

constexpr const char* kPluginName = "skiff-csi-node";

json labels() {
  return {{"app.kubernetes.io/name", kPluginName},
          {"app.kubernetes.io/part-of", "skiff"},
          {"app.kubernetes.io/managed-by", "skiff"}};
}

json metadata(const std::string& name, const std::string& namespaceName) {
  json meta = {{"name", name}, {"labels", labels()}};
  if (!namespaceName.empty()) meta["namespace"] = namespaceName;
  return meta;
}

json csiDriver() {
  return {{"apiVersion", "storage.k8s.io/v1"},
          {"kind", "CSIDriver"},
          {"metadata", metadata(kDriverName, "")},
          {"spec",
           {{"attachRequired", false},
            {"podInfoOnMount", true},
            {"volumeLifecycleModes", {"Persistent", "Ephemeral"}}}}};
}

json serviceAccount(const InstallOptions& options) {
  return {{"apiVersion", "v1"},
          {"kind", "ServiceAccount"},
          {"metadata", metadata(kPluginName, options.namespaceName)}};
}

// Events on the pods of any namespace, and nothing else: no Secret, no pod.
json clusterRole() {
  return {{"apiVersion", "rbac.authorization.k8s.io/v1"},
          {"kind", "ClusterRole"},
          {"metadata", metadata(kPluginName, "")},
          {"rules",
           {{{"apiGroups", {""}}, {"resources", {"events"}}, {"verbs", {"create", "patch"}}}}}};
}

json clusterRoleBinding(const InstallOptions& options) {
  return {
      {"apiVersion", "rbac.authorization.k8s.io/v1"},
      {"kind", "ClusterRoleBinding"},
      {"metadata", metadata(kPluginName, "")},
      {"roleRef",
       {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", kPluginName}}},
      {"subjects",
       {{{"kind", "ServiceAccount"},
         {"name", kPluginName},
         {"namespace", options.namespaceName}}}}};
}

json hostPathVolume(const std::string& name, const std::string& path) {
  return {{"name", name}, {"hostPath", {{"path", path}, {"type", "Directory"}}}};
}

json pluginContainer(const InstallOptions& options) {
  const std::string pluginDir = options.kubeletDir + "/plugins/" + kDriverName;
  json command = {"/usr/local/bin/skiff",
                  "csi",
                  "node",
                  "--endpoint",
                  "unix://" + pluginDir + "/csi.sock",
                  "--node-id",
                  "$(NODE_NAME)",
                  "--registration-dir",
                  options.kubeletDir + "/plugins_registry",
                  "--state-dir",
                  pluginDir + "/state",
                  "--mount-cgroup-root",
                  kHostCgroupMountPath};
  if (!options.apiServer.empty()) {
    command.push_back("--api-server");
    command.push_back(options.apiServer);
  }
  return {
      {"name", "node"},
      {"image", options.image},
      {"command", command},
      {"env",
       {{{"name", "NODE_NAME"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "spec.nodeName"}}}}}}}},
      // Mounting needs root and /dev/fuse; a mount made in the kubelet
      // directory must reach kubelet and the pods (Bidirectional, which
      // needs privileged).
      {"securityContext", {{"privileged", true}, {"runAsUser", 0}, {"runAsGroup", 0}}},
      {"volumeMounts",
       {{{"name", "kubelet"},
         {"mountPath", options.kubeletDir},
         {"mountPropagation", "Bidirectional"}},
        {{"name", "dev"}, {"mountPath", "/dev"}},
        {{"name", "cgroup"}, {"mountPath", kHostCgroupMountPath}}}},
      {"resources", {{"requests", {{"cpu", "10m"}, {"memory", "32Mi"}}}}}};
}

json daemonSet(const InstallOptions& options) {
  const json podSpec = {
      {"serviceAccountName", kPluginName},
      // The store as the node reaches it (a loopback Azurite too).
      {"hostNetwork", true},
      {"dnsPolicy", "ClusterFirstWithHostNet"},
      // The mount processes must not die with the plugin: in the pod's own
      // PID namespace its end would kill them all.
      {"hostPID", true},
      {"priorityClassName", "system-node-critical"},
      {"tolerations", {{{"operator", "Exists"}}}},
      {"containers", {pluginContainer(options)}},
      {"volumes",
       {hostPathVolume("kubelet", options.kubeletDir), hostPathVolume("dev", "/dev"),
        hostPathVolume("cgroup", "/sys/fs/cgroup")}}};
  return {{"apiVersion", "apps/v1"},
          {"kind", "DaemonSet"},
          {"metadata", metadata(kPluginName, options.namespaceName)},
          {"spec",
           {{"selector", {{"matchLabels", {{"app.kubernetes.io/name", kPluginName}}}}},
            {"updateStrategy", {{"type", "RollingUpdate"}}},
            {"template", {{"metadata", {{"labels", labels()}}}, {"spec", podSpec}}}}}};
}

}  // namespace

std::vector<nlohmann::json> driverObjects(const InstallOptions& options) {
  return {csiDriver(), serviceAccount(options), clusterRole(), clusterRoleBinding(options),
          daemonSet(options)};
}

}  // namespace skiff::csi
