#include "deploy/served_models.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "common/error.hpp"

namespace skiff::deploy {
namespace {

using nlohmann::json;

// `method path` of the server; throws naming it when it does not answer.
http::Response send(http::Client& client, const std::string& endpoint, const std::string& method,
                    const std::string& path) {
  http::Request request;
  request.method = method;
  request.url = endpoint + path;
  try {
    return client.send(request);
  } catch (const http::TransportError& e) {
    throw Error(fmt::format("the model server does not answer: {}", e.what()),
                fmt::format("{} {}{}", method, endpoint, path),
                "see its log with `skiff logs NAME`");
  }
}

// The JSON of a 200 answer; throws naming the request otherwise.
json answerOf(const http::Response& response, const std::string& request) {
  json answer = json::parse(response.body, nullptr, false);
  if (response.status != 200 || answer.is_discarded()) {
    throw Error(fmt::format("the model server answered HTTP {}", response.status), request,
                "is it a skiff serve of this version? see its log with `skiff logs NAME`");
  }
  return answer;
}

std::optional<int64_t> versionNumber(const json& value) {
  if (value.is_number_integer()) return value.get<int64_t>();
  if (!value.is_string()) return std::nullopt;
  try {
    return std::stoll(value.get<std::string>());
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The index's rows, grouped by model in the index's order.
std::vector<ServedModel> modelsOfIndex(const json& index) {
  std::vector<ServedModel> models;
  for (const json& row : index.is_array() ? index : json::array()) {
    const std::string name = row.value("name", "");
    if (name.empty()) continue;
    if (models.empty() || models.back().name != name) models.push_back({name, {}});
    if (const auto version = versionNumber(row.value("version", json()))) {
      models.back().versions.push_back({*version, row.value("state", ""), {}});
    }
  }
  for (ServedModel& model : models) {
    std::sort(model.versions.begin(), model.versions.end(),
              [](const ServedVersion& a, const ServedVersion& b) { return a.version > b.version; });
  }
  return models;
}

std::string describeVersion(const ServedVersion& version) {
  std::string text = fmt::format("v{}", version.version);
  if (version.state != "READY") text += " " + version.state;
  if (!version.labels.empty()) text += fmt::format(" ({})", fmt::join(version.labels, ", "));
  return text;
}

}  // namespace

std::map<int64_t, std::vector<std::string>> labelsByVersion(const json& answer) {
  std::map<int64_t, std::vector<std::string>> labels;
  const json bindings = answer.value("labels", json::object());
  for (const auto& [label, binding] : bindings.items()) {
    if (!binding.is_object()) continue;
    if (const auto version = versionNumber(binding.value("version", json()))) {
      labels[*version].push_back(label);  // items() walks names in order: sorted
    }
  }
  return labels;
}

std::vector<ServedModel> readServedModels(const ServerRequest& send, const std::string& where) {
  const char* indexPath = "/v2/repository/index";
  std::vector<ServedModel> models =
      modelsOfIndex(answerOf(send("POST", indexPath), fmt::format("POST {}{}", where, indexPath)));
  for (ServedModel& model : models) {
    if (model.versions.empty()) continue;  // not loaded: no labels to ask for
    const std::string path =
        fmt::format("/v2/models/{}/labels", http::percentEncode(model.name, false));
    const http::Response response = send("GET", path);
    if (response.status == 404) continue;  // unloaded since the index: no labels
    const auto labels = labelsByVersion(answerOf(response, "GET " + where + path));
    for (ServedVersion& version : model.versions) {
      if (const auto found = labels.find(version.version); found != labels.end()) {
        version.labels = found->second;
      }
    }
  }
  return models;
}

std::vector<ServedModel> readServedModels(http::Client& client, const std::string& endpoint) {
  return readServedModels(
      [&](const std::string& method, const std::string& path) {
        return send(client, endpoint, method, path);
      },
      endpoint);
}

std::string describeServedModels(const std::vector<ServedModel>& models) {
  std::vector<std::string> parts;
  for (const ServedModel& model : models) {
    std::vector<std::string> versions;
    for (const ServedVersion& version : model.versions)
      versions.push_back(describeVersion(version));
    parts.push_back(versions.empty() ? model.name + " not loaded"
                                     : fmt::format("{} {}", model.name, fmt::join(versions, ", ")));
  }
  return parts.empty() ? "no models" : fmt::format("{}", fmt::join(parts, "; "));
}

json servedModelsJson(const std::vector<ServedModel>& models) {
  json out = json::array();
  for (const ServedModel& model : models) {
    json versions = json::array();
    for (const ServedVersion& version : model.versions) {
      versions.push_back(
          {{"version", version.version}, {"state", version.state}, {"labels", version.labels}});
    }
    out.push_back({{"name", model.name}, {"versions", versions}});
  }
  return out;
}

}  // namespace skiff::deploy
