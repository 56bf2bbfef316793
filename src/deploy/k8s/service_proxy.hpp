#pragma once

// `skiff proxy --target k8s NAME`: a plain-HTTP port on 127.0.0.1 that
// forwards every request to a service of the release through the API
// server's service proxy, with the kubeconfig's credentials, so curl, a
// browser or a client library reach a model server inside the cluster
// without kubectl or a port-forward. HTTP only (no WebSocket upgrades).

#include <string>

#include "deploy/target.hpp"
#include "spec/spec.hpp"

namespace skiff::deploy::k8s {

// Forwards until SIGINT or SIGTERM; returns the exit code.
int runServiceProxy(const spec::Spec& spec, const ProxyOptions& options);

}  // namespace skiff::deploy::k8s
