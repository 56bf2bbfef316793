// The control side of the REST API: Triton's repository extension (index,
// load, unload) and the label and traffic split API. JSON here is small and
// off the hot path, so it goes through nlohmann-json.

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "serve/router.hpp"

namespace skiff::serve {
namespace {

using Json = nlohmann::json;

HttpReply jsonReply(const Json& body) {
  HttpReply reply;
  reply.body = body.dump();
  return reply;
}

// The request's JSON object (an empty body is `{}`); 400 saying what to send.
Json bodyOf(const HttpRequestView& request, std::string_view example) {
  if (request.body.find_first_not_of(" \t\r\n") == std::string_view::npos) return Json::object();
  Json body = Json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    throw RequestError(400, fmt::format("the body of {} {} must be a JSON object like {}",
                                        request.method, request.target, example));
  }
  return body;
}

// A version number given as 3 or "3" (KServe writes versions as strings).
std::optional<int64_t> versionField(const Json& value) {
  if (value.is_number_unsigned()) return value.get<int64_t>();
  if (!value.is_string()) return std::nullopt;
  const auto text = value.get<std::string>();
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::stoll(text);
}

std::optional<HttpReply> refuseMethod(const HttpRequestView& request,
                                      std::initializer_list<std::string_view> allowed) {
  for (const std::string_view method : allowed) {
    if (request.method == method) return std::nullopt;
  }
  std::vector<std::string> names(allowed.begin(), allowed.end());
  return errorReply(405, fmt::format("use {} for {}", fmt::join(names, " or "), request.target));
}

Json indexJson(const std::vector<IndexEntry>& rows) {
  Json out = Json::array();
  for (const IndexEntry& row : rows) {
    Json item = {{"name", row.name}};
    if (row.version) {
      item["version"] = std::to_string(*row.version);
      item["state"] = row.state;
      item["reason"] = row.reason;
    }
    out.push_back(std::move(item));
  }
  return out;
}

}  // namespace

HttpReply Router::repository(const HttpRequestView& request, std::string_view path) const {
  // index | models/{m}/load | models/{m}/unload, all POST as Triton has them.
  if (path == "index") {
    if (auto refused = refuseMethod(request, {"POST"})) return *refused;
    const Json body = bodyOf(request, R"({"ready": true})");
    const Json ready = body.value("ready", Json(false));
    if (!ready.is_boolean())
      throw RequestError(400, "\"ready\" of the index request must be a bool");
    return jsonReply(indexJson(manager_.index(ready.get<bool>())));
  }
  const size_t slash = path.rfind('/');
  const std::string_view action = slash == std::string_view::npos ? "" : path.substr(slash + 1);
  if (!path.starts_with("models/") || slash <= 7 || (action != "load" && action != "unload")) {
    return errorReply(404, fmt::format("no such endpoint: {} /v2/repository/{} (there are "
                                       "/v2/repository/index and "
                                       "/v2/repository/models/NAME/load and /unload)",
                                       request.method, path));
  }
  if (auto refused = refuseMethod(request, {"POST"})) return *refused;
  const std::string model(path.substr(7, slash - 7));
  const Json body = bodyOf(request, "{}");
  if (action == "load") {
    manager_.loadModel(model, body.contains("parameters") && !body["parameters"].empty());
  } else {
    manager_.unloadModel(model);
  }
  return jsonReply(Json::object());
}

HttpReply Router::labels(const HttpRequestView& request, const std::string& model,
                         const std::optional<std::string>& label) const {
  if (!label) {
    if (auto refused = refuseMethod(request, {"GET"})) return *refused;
    Json out = Json::object();
    for (const auto& [name, binding] : manager_.labels(model)) {
      Json item = {{"version", binding.version}, {"source", binding.fromApi ? "api" : "config"}};
      if (binding.configVersion) item["config_version"] = *binding.configVersion;
      out[name] = std::move(item);
    }
    return jsonReply({{"name", model}, {"labels", std::move(out)}});
  }
  if (auto refused = refuseMethod(request, {"PUT", "DELETE"})) return *refused;
  if (request.method == "DELETE") {
    manager_.removeLabel(model, *label);
    return jsonReply(Json::object());
  }
  const Json body = bodyOf(request, R"({"version": 2})");
  const auto version = body.contains("version") ? versionField(body["version"]) : std::nullopt;
  if (!version) {
    throw RequestError(400, fmt::format("PUT {} needs the version the label names, like "
                                        "{{\"version\": 2}}",
                                        request.target));
  }
  manager_.setLabel(model, *label, *version);
  return jsonReply(Json::object());
}

HttpReply Router::traffic(const HttpRequestView& request, const std::string& model) const {
  if (auto refused = refuseMethod(request, {"GET", "PUT", "DELETE"})) return *refused;
  if (request.method == "PUT") {
    const char* example = R"({"traffic": {"stable": 90, "canary": 10}})";
    const Json body = bodyOf(request, example);
    const Json split = body.value("traffic", Json());
    if (!split.is_object()) {
      throw RequestError(400,
                         fmt::format("PUT {} needs the split, like {}", request.target, example));
    }
    ModelLabels::Weights weights;
    for (const auto& [label, weight] : split.items()) {
      if (!weight.is_number_integer()) {
        throw RequestError(400, fmt::format("the weight of '{}' must be an integer", label));
      }
      weights[label] = weight.get<int64_t>();
    }
    manager_.setTraffic(model, std::move(weights));
  } else if (request.method == "DELETE") {
    manager_.clearTraffic(model);
  }
  const ModelManager::Traffic split = manager_.traffic(model);
  return jsonReply({{"name", model},
                    {"traffic", split.weights},
                    {"source", split.weights.empty() ? "none"
                               : split.fromApi       ? "api"
                                                     : "config"}});
}

}  // namespace skiff::serve
