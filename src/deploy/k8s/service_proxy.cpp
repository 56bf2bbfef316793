#include "deploy/k8s/service_proxy.hpp"

#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "common/error.hpp"
#include "common/signals.hpp"
#include "deploy/k8s/client.hpp"
#include "deploy/k8s/kubeconfig.hpp"
#include "deploy/k8s/render.hpp"
#include "http/server.hpp"

namespace skiff::deploy::k8s {

namespace {

// The Service a spec entry renders to: a service's, or the notebook's.
std::string serviceFor(const spec::Spec& spec, const std::string& name) {
  if (spec.services.count(name) || (name == "notebook" && spec.notebook)) {
    return objectName(spec, name);
  }
  std::string known;
  for (const auto& entry : spec.services) known += (known.empty() ? "" : ", ") + entry.first;
  if (spec.notebook) known += known.empty() ? "notebook" : ", notebook";
  throw Error(fmt::format("no service \"{}\" in the project", name), "skiff.yaml: services",
              known.empty() ? "the project has no services to reach" : "name one of: " + known);
}

}  // namespace

int runServiceProxy(const spec::Spec& spec, const ProxyOptions& options) {
  const std::string service = serviceFor(spec, options.name);
  const ClusterAccess access = loadKubeconfig();
  TerminationSignals signals;  // before the server's threads start
  http::HttpServerOptions serverOptions;
  serverOptions.host = "127.0.0.1";
  serverOptions.port = options.port;
  serverOptions.threads = 4;  // each forward blocks its thread for a round trip
  http::HttpServer server(
      [&](const http::HttpRequestView& request) {
        // One client per server thread: a client is one connection, reused.
        thread_local std::unique_ptr<KubeClient> client;
        if (!client) client = std::make_unique<KubeClient>(access, options.namespaceName);
        try {
          const auto response = client->proxyRequest(
              service, "http", std::string(request.method), std::string(request.target),
              request.body, request.body.empty() ? "" : "application/json");
          http::HttpReply reply;
          reply.status = static_cast<int>(response.status);
          reply.contentType = response.header("content-type");
          reply.body = response.body;
          return reply;
        } catch (const std::exception& e) {
          return http::errorReply(502, e.what());
        }
      },
      serverOptions);
  server.start();
  // The first line of stdout is the URL, for scripts that start this in the background.
  std::cout << fmt::format("http://127.0.0.1:{}", server.port()) << std::endl;
  std::cerr << fmt::format(
                   "skiff proxy: http://127.0.0.1:{} -> service {} in namespace {} through {} "
                   "(Ctrl-C stops)\n",
                   server.port(), service,
                   options.namespaceName.empty() ? access.namespaceName : options.namespaceName,
                   access.server)
            << std::flush;
  signals.wait();
  server.shutdown();
  server.wait();
  return 0;
}

}  // namespace skiff::deploy::k8s
