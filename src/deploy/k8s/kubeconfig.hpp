#pragma once

// How to reach a cluster, read from a kubeconfig the way kubectl reads it:
// KUBECONFIG (a ':'-separated list of files; the first file that sets an entry
// wins) or ~/.kube/config, its current context, that context's cluster, user
// and namespace.

#include <string>

#include "http/http_client.hpp"

namespace skiff::deploy::k8s {

struct ClusterAccess {
  std::string server;         // https://host:port, no trailing '/'
  std::string namespaceName;  // the context's namespace, or "default"
  std::string token;          // bearer token; never logged
  http::ClientOptions tls;    // CA, client certificate and key, skip-verify
  std::string context;        // the context's name, for messages
  std::string source;         // the kubeconfig file(s), for messages
};

// Throws skiff::Error naming the file and entry when the config is missing,
// malformed, or asks for what skiff does not support (exec plugins). Inside a
// pod with no kubeconfig, it uses the pod's service account (as kubectl does).
ClusterAccess loadKubeconfig();

// The pod's own access: KUBERNETES_SERVICE_HOST/PORT (or `server`, when
// given) and the service account's token, ca.crt and namespace files in
// `accountDir`.
ClusterAccess inClusterAccess(
    const std::string& accountDir = "/var/run/secrets/kubernetes.io/serviceaccount",
    const std::string& server = "");

}  // namespace skiff::deploy::k8s
