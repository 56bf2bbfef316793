#pragma once

// What a running `skiff serve` serves, asked of the server itself: its
// repository index (each loaded version and its state) and each model's
// labels (config.yaml's and the API's). `skiff status` shows it beside the
// serve service, and the dashboard beside each served version.

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "http/http_client.hpp"

namespace skiff::deploy {

struct ServedVersion {
  int64_t version = 0;
  std::string state;                // READY, LOADING, UNAVAILABLE or UNLOADING
  std::vector<std::string> labels;  // the labels that name it, sorted
};

struct ServedModel {
  std::string name;
  std::vector<ServedVersion> versions;  // highest first; empty: in the repository, not loaded
};

// Asks the server at `endpoint` (http://HOST:PORT). Throws skiff::Error
// naming the endpoint and the request when it does not answer as skiff serve.
std::vector<ServedModel> readServedModels(http::Client& client, const std::string& endpoint);

// As readServedModels, through `send(method, path)` (the API server's
// service proxy, on Kubernetes); `where` names the server in errors.
using ServerRequest =
    std::function<http::Response(const std::string& method, const std::string& path)>;
std::vector<ServedModel> readServedModels(const ServerRequest& send, const std::string& where);

// version -> its labels, from the answer of GET /v2/models/{m}/labels.
std::map<int64_t, std::vector<std::string>> labelsByVersion(const nlohmann::json& answer);

// One line for a table: "mlp v2 (canary), v1 (stable); iris not loaded".
std::string describeServedModels(const std::vector<ServedModel>& models);
// [{"name", "versions": [{"version", "state", "labels"}]}].
nlohmann::json servedModelsJson(const std::vector<ServedModel>& models);

}  // namespace skiff::deploy
