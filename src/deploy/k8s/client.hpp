#pragma once

// A Kubernetes REST client over libcurl: discovery, server-side apply,
// get/list/delete, list+watch with reconnection, and pod log streams.
// Every failure is an ApiError (the API server said no: its status, reason,
// message and field causes) or an Error (it could not be reached).

#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/error.hpp"
#include "deploy/k8s/kubeconfig.hpp"
#include "http/http_client.hpp"

namespace skiff::deploy::k8s {

using Clock = std::chrono::steady_clock;

// A kind as the cluster serves it (from discovery).
struct ResourceType {
  std::string apiVersion;  // "batch/v1", "v1"
  std::string kind;        // "Job"
  std::string plural;      // "jobs": the URL segment
  bool namespaced = true;
};

class ApiError : public Error {
 public:
  ApiError(long status, std::string reason, std::string what, std::string where, std::string hint)
      : Error(std::move(what), std::move(where), std::move(hint)),
        status_(status),
        reason_(std::move(reason)) {}
  long status() const { return status_; }
  const std::string& reason() const { return reason_; }  // "Conflict", "Invalid", ...

 private:
  long status_;
  std::string reason_;
};

// What a watch reports: ADDED (also for each object of the initial list),
// MODIFIED or DELETED, with the object. Returning true ends the watch.
using WatchHandler = std::function<bool(const std::string& type, const nlohmann::json& object)>;

class KubeClient {
 public:
  KubeClient(ClusterAccess access, std::string namespaceName);

  const std::string& namespaceName() const { return namespace_; }
  const ClusterAccess& access() const { return access_; }

  // The cluster's resource for `kind` of `apiVersion`; nothing when it does
  // not serve it (a CRD that is not installed).
  std::optional<ResourceType> find(const std::string& apiVersion, const std::string& kind);
  // As find, but an Error saying what to install when the kind is not served.
  ResourceType resource(const std::string& apiVersion, const std::string& kind);

  struct Applied {
    nlohmann::json object;  // as the server stored it
    bool created = false;
  };
  // Server-side apply (fieldManager=skiff); `force` takes over fields that
  // other managers own, which is otherwise a 409 Conflict.
  Applied apply(const ResourceType& type, nlohmann::json object, bool force);
  std::optional<nlohmann::json> get(const ResourceType& type, const std::string& name);
  // The items of a list, and the list's resourceVersion (where a watch starts).
  nlohmann::json list(const ResourceType& type, const std::string& labelSelector,
                      const std::string& fieldSelector = {});
  // Just the items of a list (a JSON array), by label.
  nlohmann::json listItems(const ResourceType& type, const std::string& labelSelector);
  // Deletes with background propagation (a Job's pods go too); gone is fine.
  void remove(const ResourceType& type, const std::string& name);

  // Lists, then watches from the list's resourceVersion until `handler` says
  // done (true) or `deadline` passes (false). A dropped connection resumes
  // from the last resourceVersion seen; an expired one (410 Gone) lists again.
  bool watch(const ResourceType& type, const std::string& fieldSelector, Clock::time_point deadline,
             const WatchHandler& handler);
  int reconnects() const { return reconnects_; }

  // A container's log; `follow` keeps streaming until the container ends;
  // `tailLines` starts at the last lines. False when the container has not
  // started, so there is no log yet (the API server answers 204 No Content,
  // or 400 "is waiting to start").
  bool streamLogs(const std::string& pod, const std::string& container, bool follow,
                  const std::function<void(std::string_view)>& onText,
                  std::optional<size_t> tailLines = std::nullopt);

  // GET `path` of a Service's port through the API server's service proxy
  // (/api/v1/namespaces/NS/services/NAME:PORT/proxy/PATH): how a client
  // outside the cluster reaches a server inside it without a port-forward.
  // Returns the status and body; an Error only when the API server cannot be reached.
  http::Response proxyGet(const std::string& service, const std::string& port,
                          const std::string& path);
  // Any request through the service proxy (`skiff proxy` forwards with it).
  http::Response proxyRequest(const std::string& service, const std::string& port,
                              const std::string& method, const std::string& path,
                              std::string_view body, const std::string& contentType);
  // The URL proxyGet reads (for people: it needs the cluster's credentials).
  std::string proxyUrl(const std::string& service, const std::string& port,
                       const std::string& path) const;

  // Whether the namespace exists; nothing when the user may not tell.
  std::optional<bool> namespaceExists();

 private:
  http::Response call(http::Client& client, http::Request request, const std::string& query);
  std::string collectionPath(const ResourceType& type) const;
  [[noreturn]] void fail(const http::Response& response, const std::string& action,
                         const std::string& url) const;

  ClusterAccess access_;
  std::string namespace_;
  http::Client requests_;
  http::Client streams_;  // watches and log streams: quiet for long, never "stalled"
  std::map<std::string, nlohmann::json> discovery_;  // apiVersion -> its resources
  int reconnects_ = 0;
};

}  // namespace skiff::deploy::k8s
