#pragma once

// A model server under test, in process: a repository in a store (file:// or
// Azurite), the manager, the router and the HTTP server on a free port.
// Polls are triggered by the test (ModelManager::poll, the poller's code path).

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "blob/blob_fixture.hpp"
#include "blob/sources.hpp"
#include "common/subprocess.hpp"
#include "harness/services.hpp"
#include "harness/temp_dir.hpp"
#include "http/http_client.hpp"
#include "http/server.hpp"
#include "serve/engine.hpp"
#include "serve/model_manager.hpp"
#include "serve/router.hpp"

namespace skiff::serve::testing {

using Json = nlohmann::json;

// The models a generator script writes (OUTDIR/NAME.onnx and NAME.json),
// made once per test binary and script.
inline std::filesystem::path generatedModels(const std::string& script) {
  static std::map<std::string, std::unique_ptr<skiff::testing::TempDir>> made;
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  auto& dir = made[script];
  if (!dir) {
    auto fresh = std::make_unique<skiff::testing::TempDir>("skiff-models");
    const CommandResult result = runCommand({"/usr/bin/python3", script, fresh->path().string()});
    if (result.exitCode != 0) {
      throw std::runtime_error(
          script + " failed (scripts/setup installs its Debian packages): " + result.err);
    }
    dir = std::move(fresh);
  }
  return dir->path();
}

// The small hand-made models of make_models.py, references from numpy.
inline std::filesystem::path modelDir() {
  return generatedModels(SKIFF_MAKE_MODELS);
}

inline std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

inline std::string modelBytes(const std::string& name) {
  return readFile(modelDir() / (name + ".onnx"));
}

// {"inputs": {name: {shape, data}}, "outputs": {...}} as numpy computed them.
inline Json reference(const std::string& name) {
  return Json::parse(readFile(modelDir() / (name + ".json")));
}

// Checks `actual` (a flat list) against `expected` within a relative tolerance.
inline void expectClose(const Json& actual, const Json& expected, double tolerance = 1e-4) {
  ASSERT_TRUE(actual.is_array()) << actual.dump();
  ASSERT_EQ(actual.size(), expected.size()) << actual.dump();
  for (size_t i = 0; i < expected.size(); ++i) {
    const double want = expected[i].get<double>();
    EXPECT_NEAR(actual[i].get<double>(), want, tolerance * std::max(1.0, std::abs(want)))
        << "at " << i;
  }
}

// Flattens nested lists (TF Serving answers) into one list.
inline Json flat(const Json& value) {
  if (!value.is_array()) return Json::array({value});
  Json out = Json::array();
  for (const Json& item : value) {
    for (const Json& leaf : flat(item)) out.push_back(leaf);
  }
  return out;
}

class ServedRepository {
 public:
  explicit ServedRepository(const std::string& kind = "file", http::HttpServerOptions options = {},
                            ManagerOptions managerOptions = {})
      : store_(blob::testing::makeStore(kind)), engine_(makeOnnxRuntimeEngine()) {
    managerOptions.cacheDir = cache_.path();
    manager_ = std::make_unique<ModelManager>(*store_.store, store_.root + "models/", *engine_,
                                              metrics_, managerOptions);
    router_ = std::make_unique<Router>(*manager_, metrics_);
    options.port = 0;
    options.threads = 4;
    server_ = std::make_unique<http::HttpServer>(
        [router = router_.get()](const http::HttpRequestView& request) {
          return router->handle(request);
        },
        options);
    server_->start();
  }
  ~ServedRepository() {
    server_->shutdown();
    server_->wait();
  }

  void put(const std::string& name, std::string_view bytes) {
    blob::MemorySource source(bytes);
    store_.store->put(store_.root + "models/" + name, source);
  }
  void putModel(const std::string& model, int64_t version, const std::string& file) {
    put(fmt::format("{}/{}/model.onnx", model, version), modelBytes(file));
  }
  void putModelFile(const std::string& model, int64_t version, const std::filesystem::path& file) {
    put(fmt::format("{}/{}/model.onnx", model, version), readFile(file));
  }
  void remove(const std::string& model, int64_t version) {
    store_.store->remove(fmt::format("{}models/{}/{}/model.onnx", store_.root, model, version));
  }
  bool poll() { return manager_->poll(); }
  void shutdown() { server_->shutdown(); }
  void waitForShutdown() { server_->wait(); }
  ModelManager& manager() { return *manager_; }
  Metrics& metrics() { return metrics_; }
  int port() const { return server_->port(); }

  http::Response get(const std::string& path) { return send("GET", path, ""); }
  http::Response post(const std::string& path, std::string_view body,
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
    return send("POST", path, body, std::move(headers));
  }
  // POSTs JSON and returns the parsed answer, expecting `status`.
  Json postJson(const std::string& path, const Json& body, long status = 200) {
    return sendJson("POST", path, body, status);
  }
  // Any method with a JSON body (null: none); the parsed answer, expecting `status`.
  Json sendJson(const std::string& method, const std::string& path, const Json& body,
                long status = 200) {
    const http::Response response = send(method, path, body.is_null() ? "" : body.dump());
    EXPECT_EQ(response.status, status) << method << " " << path << ": " << response.body;
    return Json::parse(response.body, nullptr, false);
  }

 private:
  http::Response send(const std::string& method, const std::string& path, std::string_view body,
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::Request request;
    request.method = method;
    request.url = fmt::format("http://127.0.0.1:{}{}", server_->port(), path);
    request.body = body;
    request.headers = std::move(headers);
    if (method == "POST" || !body.empty()) {
      request.headers.emplace_back("Content-Type", "application/json");
    }
    return client_.send(request);
  }

  blob::testing::StoreUnderTest store_;
  skiff::testing::TempDir cache_{"skiff-serve-cache"};
  std::unique_ptr<Engine> engine_;
  Metrics metrics_;
  std::unique_ptr<ModelManager> manager_;
  std::unique_ptr<Router> router_;
  std::unique_ptr<http::HttpServer> server_;
  http::Client client_;
};

// `skiff serve ARGS... --http-port PORT`, once /v2/health/ready answers 200
// (nothing, with a failure naming its log, when it does not in 10 s).
inline std::unique_ptr<Subprocess> startServe(std::vector<std::string> args, int port,
                                              const std::filesystem::path& log) {
  args.insert(args.begin(), {skiff::testing::skiffBinary(), "serve"});
  args.insert(args.end(), {"--http-port", std::to_string(port)});
  SpawnOptions spawn;
  spawn.stderrFile = log;
  spawn.dieWithParent = true;
  auto server = std::make_unique<Subprocess>(args, spawn);
  std::string ready;
  for (int i = 0; i < 200 && ready.find("200 OK") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (skiff::testing::portAcceptsConnections(port))
      ready = skiff::testing::httpGet(port, "/v2/health/ready");
  }
  if (ready.find("200 OK") != std::string::npos) return server;
  ADD_FAILURE() << "skiff serve did not get ready: " << readFile(log);
  return nullptr;
}

// A KServe v2 request for the reference input of a model.
inline Json kserveRequest(const Json& inputs) {
  Json request = {{"inputs", Json::array()}};
  for (const auto& [name, tensor] : inputs.items()) {
    request["inputs"].push_back({{"name", name},
                                 {"shape", tensor["shape"]},
                                 {"datatype", tensor.value("datatype", "FP32")},
                                 {"data", tensor["data"]}});
  }
  return request;
}

}  // namespace skiff::serve::testing
