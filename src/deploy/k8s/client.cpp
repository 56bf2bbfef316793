#include "deploy/k8s/client.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "skiff/version.hpp"

namespace skiff::deploy::k8s {

using nlohmann::json;

namespace {

http::ClientOptions streamOptions(http::ClientOptions options) {
  // A watch or a followed log may be quiet for long; the server's
  // timeoutSeconds and TCP keepalive bound it instead.
  options.stallTimeout = std::chrono::hours(24);
  return options;
}

// Thrown from a stream callback to end the transfer (curl aborts it).
struct StopStream {};
struct WatchExpired {};

std::string hintFor(long status, const ClusterAccess& access) {
  switch (status) {
    case 401:
      return fmt::format(
          "the credentials of context \"{}\" were refused: renew the token or "
          "client certificate in {}",
          access.context, access.source);
    case 403:
      return "the user may not do this: ask for an RBAC role that allows it in the namespace";
    case 404:
      return "check the namespace (--namespace) and that the object exists";
    case 409:
      return "another field manager owns these fields: rerun with --force-conflicts to take "
             "them over, or change them back where they were changed";
    case 422:
      return "the API server rejected the object: fix skiff.yaml where the causes point";
    default:
      return status >= 500 ? "the API server failed: retry, or check the cluster's health"
                           : std::string();
  }
}

// Server-side apply conflicts in one line, grouped by field manager:
// "Apply failed with 2 conflicts: conflict with "ops" using apps/v1:
// .spec.replicas, .spec.template.spec.containers[name="api"].image". The
// server's own message lists several on separate lines, and its causes
// repeat them.
std::optional<std::string> conflictSummary(const json& status) {
  const json causes = status.value("/details/causes"_json_pointer, json::array());
  if (status.value("reason", "") != "Conflict" || causes.empty()) return std::nullopt;
  std::vector<std::pair<std::string, std::vector<std::string>>> byManager;
  for (const auto& cause : causes) {
    if (cause.value("reason", "") != "FieldManagerConflict") return std::nullopt;
    const std::string manager = cause.value("message", "");  // conflict with "M" using V
    auto group = std::find_if(byManager.begin(), byManager.end(),
                              [&](const auto& entry) { return entry.first == manager; });
    if (group == byManager.end()) group = byManager.insert(byManager.end(), {manager, {}});
    group->second.push_back(cause.value("field", ""));
  }
  std::vector<std::string> parts;
  for (const auto& [manager, fields] : byManager) {
    parts.push_back(fmt::format("{}: {}", manager, fmt::join(fields, ", ")));
  }
  return fmt::format("Apply failed with {} conflict{}: {}", causes.size(),
                     causes.size() == 1 ? "" : "s", fmt::join(parts, "; "));
}

}  // namespace

KubeClient::KubeClient(ClusterAccess access, std::string namespaceName)
    : access_(std::move(access)),
      namespace_(namespaceName.empty() ? access_.namespaceName : std::move(namespaceName)),
      requests_(access_.tls),
      streams_(streamOptions(access_.tls)) {}

http::Response KubeClient::call(http::Client& client, http::Request request,
                                const std::string& query) {
  request.url = access_.server + request.url + (query.empty() ? "" : "?" + query);
  request.headers.emplace_back("Accept", "application/json");
  request.headers.emplace_back("User-Agent", std::string("skiff/") + kVersion);
  if (!access_.token.empty()) {
    request.headers.emplace_back("Authorization", "Bearer " + access_.token);
  }
  spdlog::debug("k8s: {} {}", request.method, request.url);
  try {
    return client.send(request);
  } catch (const http::TransportError& e) {
    throw Error(fmt::format("cannot reach the Kubernetes API server: {}", e.what()), access_.server,
                fmt::format("check the server of context \"{}\" in {} and that the cluster is up",
                            access_.context, access_.source));
  }
}

void KubeClient::fail(const http::Response& response, const std::string& action,
                      const std::string& url) const {
  // The API server answers with a Status: reason, message and field causes.
  std::string reason;
  std::string message = response.body;
  const json status = json::parse(response.body, nullptr, false);
  if (status.is_object() && status.value("kind", "") == "Status") {
    reason = status.value("reason", "");
    message = status.value("message", "");
    if (const auto conflicts = conflictSummary(status)) {
      message = *conflicts;
    } else if (status.contains("details") && status["details"].contains("causes")) {
      for (const auto& cause : status["details"]["causes"]) {
        const std::string field = cause.value("field", cause.value("reason", ""));
        const std::string text = cause.value("message", "");
        // Servers often spell the causes out in the message already.
        if (message.find(field) == std::string::npos || message.find(text) == std::string::npos) {
          message += fmt::format("; {}: {}", field, text);
        }
      }
    }
  }
  if (message.size() > 2000) message = message.substr(0, 2000) + "...";
  throw ApiError(response.status, reason,
                 fmt::format("{}: the API server answered {}{}: {}", action, response.status,
                             reason.empty() ? "" : " " + reason, message),
                 access_.server + url, hintFor(response.status, access_));
}

std::optional<ResourceType> KubeClient::find(const std::string& apiVersion,
                                             const std::string& kind) {
  auto cached = discovery_.find(apiVersion);
  if (cached == discovery_.end()) {
    const std::string path =
        (apiVersion.find('/') == std::string::npos ? "/api/" : "/apis/") + apiVersion;
    http::Request request;
    request.url = path;
    const auto response = call(requests_, request, "");
    json resources = json::array();
    if (response.status == 200) {
      resources = json::parse(response.body).value("resources", json::array());
    } else if (response.status != 404) {
      fail(response, "discovery of " + apiVersion, path);
    }
    cached = discovery_.emplace(apiVersion, resources).first;
  }
  for (const auto& resource : cached->second) {
    const std::string name = resource.value("name", "");
    if (resource.value("kind", "") == kind && name.find('/') == std::string::npos) {
      return ResourceType{apiVersion, kind, name, resource.value("namespaced", true)};
    }
  }
  return std::nullopt;
}

ResourceType KubeClient::resource(const std::string& apiVersion, const std::string& kind) {
  if (auto type = find(apiVersion, kind)) return *type;
  std::string hint = "check that the cluster serves " + apiVersion;
  if (apiVersion.rfind("kubeflow.org/", 0) == 0) {
    hint = "install the Kubeflow training operator in the cluster";
  } else if (apiVersion.rfind("sparkoperator.k8s.io/", 0) == 0) {
    hint = "install the Spark operator (kubeflow/spark-operator) in the cluster";
  }
  throw Error(fmt::format("the cluster does not serve {} ({})", kind, apiVersion), access_.server,
              hint);
}

std::string KubeClient::collectionPath(const ResourceType& type) const {
  std::string path =
      (type.apiVersion.find('/') == std::string::npos ? "/api/" : "/apis/") + type.apiVersion;
  if (type.namespaced) path += "/namespaces/" + namespace_;
  return path + "/" + type.plural;
}

KubeClient::Applied KubeClient::apply(const ResourceType& type, json object, bool force) {
  const std::string name = object["metadata"]["name"];
  if (type.namespaced) object["metadata"]["namespace"] = namespace_;
  const std::string body = object.dump();  // JSON is YAML: apply-patch+yaml takes it
  http::Request request;
  request.method = "PATCH";
  request.url = collectionPath(type) + "/" + name;
  request.headers.emplace_back("Content-Type", "application/apply-patch+yaml");
  request.body = body;
  const auto response =
      call(requests_, request, std::string("fieldManager=skiff") + (force ? "&force=true" : ""));
  if (response.status != 200 && response.status != 201) {
    fail(response, fmt::format("applying {} {}", type.kind, name), request.url);
  }
  return {json::parse(response.body), response.status == 201};
}

std::optional<json> KubeClient::get(const ResourceType& type, const std::string& name) {
  http::Request request;
  request.url = collectionPath(type) + "/" + name;
  const auto response = call(requests_, request, "");
  if (response.status == 404) return std::nullopt;
  if (response.status != 200)
    fail(response, fmt::format("reading {} {}", type.kind, name), request.url);
  return json::parse(response.body);
}

json KubeClient::list(const ResourceType& type, const std::string& labelSelector,
                      const std::string& fieldSelector) {
  http::Request request;
  request.url = collectionPath(type);
  std::string query;
  if (!labelSelector.empty()) query += "labelSelector=" + http::percentEncode(labelSelector, false);
  if (!fieldSelector.empty()) {
    query += (query.empty() ? "" : "&") + std::string("fieldSelector=") +
             http::percentEncode(fieldSelector, false);
  }
  const auto response = call(requests_, request, query);
  if (response.status != 200) fail(response, "listing " + type.plural, request.url);
  return json::parse(response.body);
}

json KubeClient::listItems(const ResourceType& type, const std::string& labelSelector) {
  return list(type, labelSelector).value("items", json::array());
}

void KubeClient::remove(const ResourceType& type, const std::string& name) {
  http::Request request;
  request.method = "DELETE";
  request.url = collectionPath(type) + "/" + name;
  const auto response = call(requests_, request, "propagationPolicy=Background");
  if (response.status == 404) return;
  if (response.status != 200 && response.status != 202) {
    fail(response, fmt::format("deleting {} {}", type.kind, name), request.url);
  }
}

bool KubeClient::watch(const ResourceType& type, const std::string& fieldSelector,
                       Clock::time_point deadline, const WatchHandler& handler) {
  std::string resourceVersion;
  bool relist = true;
  while (Clock::now() < deadline) {
    if (relist) {
      const json listed = list(type, "", fieldSelector);
      for (const auto& item : listed.value("items", json::array())) {
        if (handler("ADDED", item)) return true;
      }
      resourceVersion = listed.value("/metadata/resourceVersion"_json_pointer, std::string());
      relist = false;
    }
    const auto left = std::chrono::duration_cast<std::chrono::seconds>(deadline - Clock::now());
    const long timeoutSeconds = std::clamp<long>(left.count() + 1, 1, 300);
    http::Request request;
    request.url = collectionPath(type);
    std::string pending;
    request.onBody = [&](const char* data, size_t size) {
      pending.append(data, size);
      for (auto end = pending.find('\n'); end != std::string::npos; end = pending.find('\n')) {
        const json event = json::parse(pending.substr(0, end), nullptr, false);
        pending.erase(0, end + 1);
        if (!event.is_object()) continue;
        const std::string eventType = event.value("type", "");
        const json object = event.value("object", json::object());
        if (eventType == "ERROR") {
          if (object.value("code", 0) == 410) throw WatchExpired{};
          throw ApiError(object.value("code", 0), object.value("reason", ""),
                         "the watch of " + type.plural + " failed: " + object.value("message", ""),
                         access_.server + request.url, "retry the command");
        }
        resourceVersion = object.value("/metadata/resourceVersion"_json_pointer, resourceVersion);
        if (eventType != "BOOKMARK" && handler(eventType, object)) throw StopStream{};
      }
    };
    std::string query =
        fmt::format("watch=1&allowWatchBookmarks=true&timeoutSeconds={}&resourceVersion={}",
                    timeoutSeconds, http::percentEncode(resourceVersion, false));
    if (!fieldSelector.empty())
      query += "&fieldSelector=" + http::percentEncode(fieldSelector, false);
    try {
      const auto response = call(streams_, request, query);
      if (response.status == 410) {
        relist = true;
      } else if (response.status != 200) {
        fail(response, "watching " + type.plural, request.url);
      }
    } catch (const StopStream&) {
      return true;
    } catch (const WatchExpired&) {
      relist = true;  // the resourceVersion is too old: start over from a list
    } catch (const ApiError&) {
      throw;
    } catch (const Error& e) {
      // The connection dropped: resume from the last resourceVersion seen.
      ++reconnects_;
      spdlog::info("k8s: the watch of {} dropped ({}); resuming at resourceVersion {}", type.plural,
                   e.problem(), resourceVersion);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  return false;
}

bool KubeClient::streamLogs(const std::string& pod, const std::string& container, bool follow,
                            const std::function<void(std::string_view)>& onText,
                            std::optional<size_t> tailLines) {
  http::Request request;
  request.url = "/api/v1/namespaces/" + namespace_ + "/pods/" + pod + "/log";
  // Only a 200's body is the log; an error's is a Status, collected apart.
  long status = 0;
  std::string errorBody;
  request.onHeaders = [&status](long code, const auto&) { status = code; };
  request.onBody = [&](const char* data, size_t size) {
    if (status == 200) {
      onText({data, size});
    } else {
      errorBody.append(data, size);
    }
  };
  std::string query = "container=" + http::percentEncode(container, false);
  if (follow) query += "&follow=true";
  if (tailLines) query += fmt::format("&tailLines={}", *tailLines);
  auto response = call(streams_, request, query);
  // An error's body may come collected rather than streamed.
  if (errorBody.empty() && response.status != 200) errorBody = response.body;
  // A pod that is not running yet: no content (no node), or "container ... is
  // waiting to start" (its node is pulling the image).
  if (response.status == 204) return false;
  if (response.status == 400 && errorBody.find("is waiting to start") != std::string::npos) {
    return false;
  }
  if (response.status != 200) {
    response.body = errorBody;
    fail(response, "reading the log of pod " + pod, request.url);
  }
  return true;
}

std::string KubeClient::proxyUrl(const std::string& service, const std::string& port,
                                 const std::string& path) const {
  return fmt::format("/api/v1/namespaces/{}/services/{}:{}/proxy{}", namespace_, service, port,
                     path);
}

http::Response KubeClient::proxyGet(const std::string& service, const std::string& port,
                                    const std::string& path) {
  return proxyRequest(service, port, "GET", path, {}, "");
}

http::Response KubeClient::proxyRequest(const std::string& service, const std::string& port,
                                        const std::string& method, const std::string& path,
                                        std::string_view body, const std::string& contentType) {
  http::Request request;
  request.method = method;
  request.url = proxyUrl(service, port, path);
  request.body = body;
  if (!contentType.empty()) request.headers.emplace_back("Content-Type", contentType);
  return call(requests_, request, "");
}

std::optional<bool> KubeClient::namespaceExists() {
  http::Request request;
  request.url = "/api/v1/namespaces/" + namespace_;
  const auto response = call(requests_, request, "");
  if (response.status == 200) return true;
  if (response.status == 404) return false;
  if (response.status == 401) fail(response, "reading namespace " + namespace_, request.url);
  return std::nullopt;  // 403: the user may not read namespaces, which is no answer
}

}  // namespace skiff::deploy::k8s
