#include "deploy/k8s/kubeconfig.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "common/error.hpp"
#include "common/yaml_load.hpp"
#include "image/credentials.hpp"

namespace skiff::deploy::k8s {

namespace fs = std::filesystem;

namespace {

struct ConfigFile {
  fs::path path;
  YAML::Node root;
};

std::vector<ConfigFile> readConfigFiles(std::string& source) {
  std::vector<fs::path> paths;
  const char* list = std::getenv("KUBECONFIG");
  if (list && *list) {
    std::stringstream entries(list);
    for (std::string entry; std::getline(entries, entry, ':');) {
      if (!entry.empty()) paths.emplace_back(entry);
    }
    source = list;
  } else {
    const char* home = std::getenv("HOME");
    paths.push_back(fs::path(home ? home : "/") / ".kube" / "config");
    source = paths.back().string();
  }
  std::vector<ConfigFile> files;
  for (const auto& path : paths) {
    if (!fs::exists(path)) continue;  // kubectl skips missing files of the list too
    try {
      files.push_back({path, loadYamlFile(path.string())});
    } catch (const YamlTooLarge& e) {
      throw Error(fmt::format("the kubeconfig is refused (line {}, column {}): {}", e.mark.line + 1,
                              e.mark.column + 1, e.msg),
                  path.string(), "fix it, or point KUBECONFIG at another file");
    } catch (const YAML::Exception& e) {
      throw Error(fmt::format("the kubeconfig is not valid YAML (line {}, column {})",
                              e.mark.line + 1, e.mark.column + 1),
                  path.string(), "fix it, or point KUBECONFIG at another file");
    }
  }
  if (files.empty()) {
    throw Error("no kubeconfig found", source,
                "set KUBECONFIG, or get one for your cluster (e.g. `az aks get-credentials`)");
  }
  return files;
}

struct Entry {
  YAML::Node node;
  const ConfigFile* file = nullptr;
};

// The `field` mapping of entry `name` in `section` ("clusters", ...): the
// first file that has it wins, as kubectl merges.
Entry findEntry(const std::vector<ConfigFile>& files, const std::string& section,
                const std::string& field, const std::string& name, const std::string& source) {
  for (const auto& file : files) {
    for (const auto& entry : file.root[section]) {
      if (entry["name"] && entry["name"].as<std::string>() == name && entry[field]) {
        return {entry[field], &file};
      }
    }
  }
  throw Error(fmt::format("{} \"{}\" is not in the kubeconfig", field, name), source,
              fmt::format("add it under {}:, or pick another context", section));
}

std::string text(const YAML::Node& node, const char* field) {
  return node[field] ? node[field].as<std::string>() : std::string();
}

// A file path of the kubeconfig, relative to the file it is written in.
std::string filePath(const Entry& entry, const char* field) {
  const std::string value = text(entry.node, field);
  if (value.empty() || fs::path(value).is_absolute()) return value;
  return (entry.file->path.parent_path() / value).string();
}

std::string decoded(const Entry& entry, const char* field) {
  const std::string value = text(entry.node, field);
  if (value.empty()) return value;
  const auto bytes = image::base64Decode(value);
  if (!bytes) {
    throw Error(fmt::format("{} is not valid base64", field), entry.file->path.string(),
                "copy it again from your cluster's kubeconfig");
  }
  return *bytes;
}

std::string readWhole(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read the " + what, path, "check the kubeconfig's path to it");
  std::stringstream content;
  content << in.rdbuf();
  std::string value = content.str();
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  return value;
}

}  // namespace

ClusterAccess inClusterAccess(const std::string& accountDir, const std::string& server) {
  ClusterAccess access;
  access.server = server;
  while (!access.server.empty() && access.server.back() == '/') access.server.pop_back();
  if (access.server.empty()) {
    const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
    const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !*host) {
      throw Error("not inside a Kubernetes pod (KUBERNETES_SERVICE_HOST is not set)", accountDir,
                  "use a kubeconfig");
    }
    const std::string address = std::string(host).find(':') == std::string::npos
                                    ? std::string(host)
                                    : "[" + std::string(host) + "]";  // IPv6
    access.server = fmt::format("https://{}:{}", address, port && *port ? port : "443");
  }
  access.token = readWhole(accountDir + "/token", "service account token");
  access.tls.caFile = accountDir + "/ca.crt";
  access.namespaceName = fs::exists(accountDir + "/namespace")
                             ? readWhole(accountDir + "/namespace", "service account namespace")
                             : "default";
  access.context = "in-cluster";
  access.source = accountDir;
  return access;
}

ClusterAccess loadKubeconfig() {
  ClusterAccess access;
  const char* list = std::getenv("KUBECONFIG");
  const char* inPod = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* home = std::getenv("HOME");
  if ((!list || !*list) && inPod && *inPod &&
      !fs::exists(fs::path(home ? home : "/") / ".kube" / "config")) {
    return inClusterAccess();
  }
  const auto files = readConfigFiles(access.source);
  for (const auto& file : files) {
    access.context = text(file.root, "current-context");
    if (!access.context.empty()) break;
  }
  if (access.context.empty()) {
    throw Error("the kubeconfig has no current-context", access.source,
                "run `kubectl config use-context NAME`");
  }
  const Entry context = findEntry(files, "contexts", "context", access.context, access.source);
  const Entry cluster =
      findEntry(files, "clusters", "cluster", text(context.node, "cluster"), access.source);
  access.namespaceName = text(context.node, "namespace");
  if (access.namespaceName.empty()) access.namespaceName = "default";
  access.server = text(cluster.node, "server");
  while (!access.server.empty() && access.server.back() == '/') access.server.pop_back();
  if (access.server.empty()) {
    throw Error("the cluster of context \"" + access.context + "\" has no server",
                cluster.file->path.string(), "set clusters[].cluster.server");
  }
  access.tls.caFile = filePath(cluster, "certificate-authority");
  access.tls.caData = decoded(cluster, "certificate-authority-data");
  access.tls.insecureSkipTlsVerify = cluster.node["insecure-skip-tls-verify"] &&
                                     cluster.node["insecure-skip-tls-verify"].as<bool>();

  const std::string userName = text(context.node, "user");
  if (userName.empty()) return access;  // anonymous
  const Entry user = findEntry(files, "users", "user", userName, access.source);
  if (user.node["exec"] || user.node["auth-provider"]) {
    throw Error(fmt::format("user \"{}\" gets its credentials from a plugin, which skiff does not "
                            "run",
                            userName),
                user.file->path.string(),
                "use a kubeconfig with a token or a client certificate (for AKS: "
                "`az aks get-credentials --admin`, or a service account token)");
  }
  access.token = text(user.node, "token");
  const std::string tokenFile = filePath(user, "tokenFile");
  if (access.token.empty() && !tokenFile.empty()) access.token = readWhole(tokenFile, "token file");
  access.tls.clientCert = filePath(user, "client-certificate");
  access.tls.clientKey = filePath(user, "client-key");
  access.tls.clientCertData = decoded(user, "client-certificate-data");
  access.tls.clientKeyData = decoded(user, "client-key-data");
  return access;
}

}  // namespace skiff::deploy::k8s
