// skiff serve end to end over loopback HTTP: real models, real stores
// (file:// and Azurite), both APIs, version rollouts under traffic.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "harness/services.hpp"
#include "serve/onnx_signature.hpp"
#include "serve_fixture.hpp"

namespace skiff::serve::testing {
namespace {

using namespace std::chrono_literals;

// Builds a TF Serving "instances" body from a reference input of shape [N, ...].
Json tfInstances(const Json& tensor) {
  const int64_t rows = tensor["shape"][0];
  const size_t rowSize = tensor["data"].size() / static_cast<size_t>(rows);
  Json instances = Json::array();
  for (int64_t r = 0; r < rows; ++r) {
    Json row = Json::array();
    for (size_t i = 0; i < rowSize; ++i) row.push_back(tensor["data"][r * rowSize + i]);
    instances.push_back(row);  // rows of rank-1 models are flat lists
  }
  return {{"instances", instances}};
}

class ServeStores : public ::testing::TestWithParam<std::string> {};

TEST_P(ServeStores, ServesModelsThroughBothApis) {
  ServedRepository served(GetParam());
  served.putModel("iris", 1, "iris");
  served.putModel("pair", 1, "pair");
  ASSERT_TRUE(served.poll());
  EXPECT_EQ(served.get("/v2/health/ready").status, 200);

  const Json iris = reference("iris");
  Json answer = served.postJson("/v2/models/iris/infer", kserveRequest(iris["inputs"]));
  EXPECT_EQ(answer["model_name"], "iris");
  EXPECT_EQ(answer["model_version"], "1");
  EXPECT_EQ(answer["outputs"][0]["name"], "probabilities");
  EXPECT_EQ(answer["outputs"][0]["shape"], Json({3, 3}));
  expectClose(answer["outputs"][0]["data"], iris["outputs"]["probabilities"]["data"]);

  answer = served.postJson("/v1/models/iris:predict", tfInstances(iris["inputs"]["input"]));
  expectClose(flat(answer["predictions"]), iris["outputs"]["probabilities"]["data"]);
  answer = served.postJson("/v1/models/iris/versions/1:predict",
                           {{"inputs", tfInstances(iris["inputs"]["input"])["instances"]}});
  expectClose(flat(answer["outputs"]), iris["outputs"]["probabilities"]["data"]);

  // Two inputs and two outputs, in both TF Serving formats.
  answer =
      served.postJson("/v1/models/pair:predict", {{"instances", {{{"a", {1, 2}}, {"b", {3, 5}}}}}});
  EXPECT_EQ(answer["predictions"][0]["sum"], Json({4, 7}));
  EXPECT_EQ(answer["predictions"][0]["difference"], Json({-2, -3}));
  answer =
      served.postJson("/v1/models/pair:predict", {{"inputs", {{"a", {{1, 2}}}, {"b", {{3, 5}}}}}});
  EXPECT_EQ(answer["outputs"]["sum"], Json({{4, 7}}));
  const Json pair = reference("pair");
  answer = served.postJson("/v2/models/pair/versions/1/infer", kserveRequest(pair["inputs"]));
  for (const Json& output : answer["outputs"]) {
    expectClose(output["data"], pair["outputs"][output["name"].get<std::string>()]["data"]);
  }
}

INSTANTIATE_TEST_SUITE_P(Stores, ServeStores, ::testing::Values("file", "azure"));

TEST(Serve, MlpAndCnnMatchNumpy) {
  ServedRepository served;
  served.putModel("mlp", 1, "mlp");
  served.putModel("cnn", 7, "cnn");
  ASSERT_TRUE(served.poll());
  for (const auto& [model, output] : {std::pair{"mlp", "y"}, std::pair{"cnn", "logits"}}) {
    SCOPED_TRACE(model);
    const Json expected = reference(model);
    Json answer = served.postJson(fmt::format("/v2/models/{}/infer", model),
                                  kserveRequest(expected["inputs"]));
    expectClose(answer["outputs"][0]["data"], expected["outputs"][output]["data"]);
    const Json& input = expected["inputs"][model == std::string("mlp") ? "x" : "x"];
    Json nested = Json::array();
    // TF columnar input: the nested list of the whole tensor, built from shape and data.
    std::function<Json(size_t, size_t&)> build = [&](size_t d, size_t& offset) -> Json {
      if (d == input["shape"].size()) return input["data"][offset++];
      Json list = Json::array();
      for (int64_t i = 0; i < input["shape"][d].get<int64_t>(); ++i)
        list.push_back(build(d + 1, offset));
      return list;
    };
    size_t offset = 0;
    answer = served.postJson(fmt::format("/v1/models/{}:predict", model),
                             {{"inputs", build(0, offset)}});
    expectClose(flat(answer["outputs"]), expected["outputs"][output]["data"]);
  }
}

TEST(Serve, BinaryTensorExtension) {
  ServedRepository served;
  served.putModel("iris", 1, "iris");
  ASSERT_TRUE(served.poll());
  const std::vector<float> data = {5.1f, 3.5f, 1.4f, 0.2f, 6.7f, 3.0f, 5.2f, 2.3f};
  const std::string header =
      R"({"inputs":[{"name":"input","shape":[2,4],"datatype":"FP32","parameters":{"binary_data_size":32}}],)"
      R"("outputs":[{"name":"probabilities","parameters":{"binary_data":true}}]})";
  std::string body = header;
  body.append(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(float));
  const http::Response response =
      served.post("/v2/models/iris/infer", body,
                  {{"Inference-Header-Content-Length", std::to_string(header.size())}});
  ASSERT_EQ(response.status, 200) << response.body;
  const size_t jsonLength = std::stoul(response.header("inference-header-content-length"));
  const Json answer = Json::parse(response.body.substr(0, jsonLength));
  EXPECT_EQ(answer["outputs"][0]["parameters"]["binary_data_size"], 24);
  ASSERT_EQ(response.body.size(), jsonLength + 24);
  std::vector<float> probabilities(6);
  std::memcpy(probabilities.data(), response.body.data() + jsonLength, 24);
  const Json expected = reference("iris")["outputs"]["probabilities"]["data"];
  expectClose(Json(probabilities),
              Json(std::vector<double>(expected.begin(), expected.begin() + 6)));
}

// Sends inferences to `add` until stopped; counts failures and the versions seen.
class Traffic {
 public:
  explicit Traffic(ServedRepository& served) : served_(served), thread_([this] { run(); }) {}
  ~Traffic() { stop(); }
  void stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int failures() const { return failures_; }
  int64_t lastVersion() const { return lastVersion_; }
  int requests() const { return requests_; }
  // Waits until a response came from `version` (after the current moment).
  bool awaitVersion(int64_t version) {
    for (int i = 0; i < 500; ++i) {
      const int seen = requests_;
      std::this_thread::sleep_for(5ms);
      if (requests_ > seen && lastVersion_ == version) return true;
    }
    return false;
  }

 private:
  void run() {
    const Json request = kserveRequest(reference("add_v1")["inputs"]);
    while (!stopping_) {
      const http::Response response = served_.post("/v2/models/add/infer", request.dump());
      ++requests_;
      const Json answer = Json::parse(response.body, nullptr, false);
      if (response.status != 200 || answer.is_discarded()) {
        ++failures_;
        ADD_FAILURE() << "request failed: " << response.status << " " << response.body;
        continue;
      }
      const int64_t version = std::stoll(answer["model_version"].get<std::string>());
      // y = x + version * [1, 2, 3], x[0] = [1, 2, 3]
      if (answer["outputs"][0]["data"][0].get<double>() != 1.0 + static_cast<double>(version)) {
        ++failures_;
        ADD_FAILURE() << "version " << version << " answered " << answer.dump();
      }
      lastVersion_ = version;
    }
  }

  ServedRepository& served_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> failures_{0};
  std::atomic<int> requests_{0};
  std::atomic<int64_t> lastVersion_{0};
  std::thread thread_;
};

TEST(Serve, RollsVersionsUnderTrafficWithoutFailures) {
  ServedRepository served;
  served.putModel("add", 1, "add_v1");
  ASSERT_TRUE(served.poll());
  Traffic traffic(served);
  ASSERT_TRUE(traffic.awaitVersion(1));

  served.putModel("add", 2, "add_v2");
  ASSERT_TRUE(served.poll());
  EXPECT_TRUE(traffic.awaitVersion(2));
  EXPECT_EQ(served.get("/v2/models/add/versions/1/ready").status, 404);  // superseded, unloaded

  served.remove("add", 2);
  ASSERT_TRUE(served.poll());
  EXPECT_TRUE(traffic.awaitVersion(1));

  served.putModel("add", 2, "add_v2");
  ASSERT_TRUE(served.poll());
  EXPECT_TRUE(traffic.awaitVersion(2));
  served.put("add/3/model.onnx", "this is not an onnx file");
  ASSERT_TRUE(served.poll());
  EXPECT_TRUE(traffic.awaitVersion(2));
  traffic.stop();
  EXPECT_EQ(traffic.failures(), 0);
  EXPECT_GT(traffic.requests(), 10);

  const http::Response ready = served.get("/v2/models/add/versions/3/ready");
  EXPECT_EQ(ready.status, 503);
  EXPECT_NE(ready.body.find("UNAVAILABLE"), std::string::npos) << ready.body;
  EXPECT_NE(ready.body.find("not an ONNX model"), std::string::npos) << ready.body;
  const Json status = Json::parse(served.get("/v1/models/add").body);
  ASSERT_EQ(status["model_version_status"].size(), 2u) << status.dump();
  EXPECT_EQ(status["model_version_status"][0]["version"], "2");
  EXPECT_EQ(status["model_version_status"][0]["state"], "AVAILABLE");
  EXPECT_EQ(status["model_version_status"][1]["state"], "END");
  EXPECT_EQ(status["model_version_status"][1]["status"]["error_code"], "UNAVAILABLE");

  // An unchanged broken file is not fetched again; a fixed one loads.
  ASSERT_TRUE(served.poll());
  served.putModel("add", 3, "add_v3");
  ASSERT_TRUE(served.poll());
  EXPECT_EQ(served.get("/v2/models/add/versions/3/ready").status, 200);
  const std::string metrics = served.get("/metrics").body;
  EXPECT_NE(
      metrics.find(R"(skiff_serve_model_loads_total{model="add",version="3",result="failure"} 1)"),
      std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find(R"(skiff_serve_loaded_versions{model="add"} 1)"), std::string::npos);
}

TEST(Serve, BrokenNewestVersionFallsBackToThePreviousOne) {
  ServedRepository served;
  served.putModel("add", 1, "add_v1");
  served.putModel("add", 2, "unsupported");
  ASSERT_TRUE(served.poll());
  const Json answer =
      served.postJson("/v2/models/add/infer", kserveRequest(reference("add_v1")["inputs"]));
  EXPECT_EQ(answer["model_version"], "1");
  const http::Response refused = served.get("/v2/models/add/versions/2");
  EXPECT_EQ(refused.status, 503);
  // The operator, its domain and opset, and the node are named.
  EXPECT_NE(refused.body.find("operator FancyNorm (domain com.example, opset 3) of node "
                              "'fancy_norm_1'"),
            std::string::npos)
      << refused.body;
}

TEST(Serve, AChangedFileOfAServingVersionReplacesItOnlyOnceLoaded) {
  ServedRepository served;
  served.putModel("add", 1, "add_v1");
  ASSERT_TRUE(served.poll());
  const Json request = kserveRequest(reference("add_v1")["inputs"]);
  served.put("add/1/model.onnx", modelBytes("unsupported"));
  ASSERT_TRUE(served.poll());
  EXPECT_EQ(served.postJson("/v2/models/add/infer", request)["outputs"][0]["data"][0], 2.0);
  const Json status = Json::parse(served.get("/v1/models/add").body)["model_version_status"][0];
  EXPECT_EQ(status["state"], "AVAILABLE");
  EXPECT_NE(status["status"]["error_message"].get<std::string>().find("previous one keeps serving"),
            std::string::npos);
  served.putModel("add", 1, "add_v2");  // same version number, new content
  ASSERT_TRUE(served.poll());
  EXPECT_EQ(served.postJson("/v2/models/add/infer", request)["outputs"][0]["data"][0], 3.0);
}

TEST(Serve, VersionPolicies) {
  ServedRepository served;
  for (int v = 1; v <= 3; ++v) served.putModel("add", v, fmt::format("add_v{}", v));
  served.put("add/config.yaml", "version_policy: {latest: 2}\nmax_batch_size: 4\n");
  ASSERT_TRUE(served.poll());
  auto ready = [&](int v) {
    return served.get(fmt::format("/v2/models/add/versions/{}/ready", v)).status;
  };
  EXPECT_EQ(ready(1), 404);
  EXPECT_EQ(ready(2), 200);
  EXPECT_EQ(ready(3), 200);
  EXPECT_EQ(served.postJson("/v2/models/add/infer",
                            kserveRequest(reference("add_v1")["inputs"]))["model_version"],
            "3");
  const Json big = {{"inputs",
                     {{{"name", "x"},
                       {"shape", {5, 3}},
                       {"datatype", "FP32"},
                       {"data", std::vector<float>(15, 1.0f)}}}}};
  const Json refused = served.postJson("/v2/models/add/infer", big, 400);
  EXPECT_NE(refused["error"].get<std::string>().find("max_batch_size 4"), std::string::npos);

  served.put("add/config.yaml", "version_policy: {specific: [1]}\n");
  ASSERT_TRUE(served.poll());
  EXPECT_EQ(ready(1), 200);
  EXPECT_EQ(ready(3), 404);

  served.put("add/config.yaml", "version_policy: all\n");
  ASSERT_TRUE(served.poll());
  EXPECT_EQ(ready(1), 200);
  EXPECT_EQ(ready(2), 200);
  EXPECT_EQ(ready(3), 200);

  // A broken config.yaml keeps the settings before it and says why.
  served.put("add/config.yaml", "version_polcy: all\n");
  ASSERT_TRUE(served.poll());
  EXPECT_EQ(ready(1), 200);
}

TEST(Serve, ConcurrentClientsGetTheirOwnAnswers) {
  ServedRepository served;
  served.putModel("add", 1, "add_v1");
  ASSERT_TRUE(served.poll());
  std::atomic<int> wrong{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < 40; ++i) {
        const float value = static_cast<float>(c * 1000 + i);
        const Json request = {{"inputs",
                               {{{"name", "x"},
                                 {"shape", {1, 3}},
                                 {"datatype", "FP32"},
                                 {"data", {value, value, value}}}}}};
        const http::Response response = served.post("/v2/models/add/infer", request.dump());
        const Json answer = Json::parse(response.body, nullptr, false);
        if (response.status != 200 ||
            answer["outputs"][0]["data"] != Json({value + 1, value + 2, value + 3})) {
          ++wrong;
        }
      }
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_EQ(wrong, 0);
}

// A KServe v2 request for one FP32 input.
Json oneInput(const std::string& name, const std::vector<int64_t>& shape,
              const std::vector<float>& data) {
  return {{"inputs", {{{"name", name}, {"shape", shape}, {"datatype", "FP32"}, {"data", data}}}}};
}

TEST(Serve, DynamicBatchingGivesEachRequestItsOwnRows) {
  ServedRepository served;
  served.putModel("mlp", 1, "mlp");
  served.put("mlp/config.yaml",
             "max_batch_size: 8\ninstances: 1\ndynamic_batching: {max_queue_delay: 20ms}\n");
  served.putModel("plain", 1, "mlp");  // the same model, unbatched: the reference
  ASSERT_TRUE(served.poll());
  // Rows of 1 to 3 per request, so batches split at uneven offsets.
  constexpr int kClients = 8;
  constexpr int kRequests = 12;
  auto input = [](int c, int i) {
    std::vector<float> data(static_cast<size_t>(16 * (1 + (c + i) % 3)));
    for (size_t k = 0; k < data.size(); ++k) {
      data[k] = std::sin(static_cast<float>(c * 131 + i * 17 + static_cast<int>(k)) * 0.37f);
    }
    return oneInput("x", {static_cast<int64_t>(data.size() / 16), 16}, data);
  };
  std::vector<std::vector<Json>> alone(kClients);
  for (int c = 0; c < kClients; ++c) {
    for (int i = 0; i < kRequests; ++i) {
      alone[c].push_back(served.postJson("/v2/models/plain/infer", input(c, i))["outputs"][0]);
    }
  }
  std::atomic<int> failed{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < kRequests; ++i) {
        const Json answer = served.postJson("/v2/models/mlp/infer", input(c, i));
        const Json& output = answer["outputs"][0];
        if (output["shape"] != alone[c][i]["shape"]) ++failed;
        expectClose(output["data"], alone[c][i]["data"], 1e-5);
        if (c == 0) {
          // A request that cannot join any batch still gets its own answer.
          const Json refused = served.postJson("/v2/models/mlp/infer",
                                               oneInput("x", {1, 15}, std::vector<float>(15)), 400);
          if (refused.value("error", "") != "input 'x': expected shape [-1, 16], given [1, 15]") {
            ++failed;
          }
        }
      }
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_EQ(failed, 0);
  const VersionMetrics& metrics = served.metrics().version("mlp", 1);
  EXPECT_EQ(metrics.batchedRequests, kClients * kRequests);
  // Whether some batch held more than one request depends on how the
  // clients' requests happen to overlap (on a loaded machine they may not):
  // batching_test shows requests sharing a batch with an engine it holds
  // busy. Here every answer is checked whichever way they were batched.
  EXPECT_LE(metrics.batches, metrics.batchedRequests);
  const std::string text = served.get("/metrics").body;
  EXPECT_NE(text.find(fmt::format(R"(skiff_serve_batches_total{{model="mlp",version="1"}} {})",
                                  metrics.batches.load())),
            std::string::npos)
      << text;
  // Every batched request waited in the queue (the load's own check adds one).
  const std::string queued =
      R"(skiff_serve_queue_duration_seconds_count{model="mlp",version="1"} )";
  const size_t at = text.find(queued);
  ASSERT_NE(at, std::string::npos) << text;
  EXPECT_GE(std::stoi(text.substr(at + queued.size())), kClients * kRequests);
  EXPECT_EQ(served.metrics().version("plain", 1).batches, 0u);
}

TEST(Serve, DynamicBatchingRunsShapesThatCannotMergeApart) {
  ServedRepository served;
  served.putModel("relu", 1, "relu");  // x: [N, M]
  served.put("relu/config.yaml", "max_batch_size: 4\ndynamic_batching: {max_queue_delay: 5ms}\n");
  ASSERT_TRUE(served.poll());
  std::atomic<int> wrong{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 6; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < 10; ++i) {
        const size_t width = 2 + static_cast<size_t>(c % 3);  // three kinds of rows
        std::vector<float> data(width);
        for (size_t k = 0; k < width; ++k) {
          data[k] = static_cast<float>(c * 100 + i) * (k % 2 ? 1.0f : -1.0f);
        }
        std::vector<float> expected = data;
        for (float& value : expected) value = std::max(value, 0.0f);
        const Json answer = served.postJson("/v2/models/relu/infer",
                                            oneInput("x", {1, static_cast<int64_t>(width)}, data));
        if (answer["outputs"][0]["data"] != Json(expected) ||
            answer["outputs"][0]["shape"] != Json({1, static_cast<int64_t>(width)})) {
          ++wrong;
        }
      }
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_EQ(wrong, 0);
  // Rows above max_batch_size are refused before they queue.
  served.postJson("/v2/models/relu/infer", oneInput("x", {5, 1}, std::vector<float>(5)), 400);
}

TEST(Serve, DynamicBatchingKeepsInputsOfUnevenRowsOutOfBatches) {
  ServedRepository served;
  served.putModel("pair", 1, "pair");  // a, b: [N, 2]
  served.put("pair/config.yaml", "max_batch_size: 8\ndynamic_batching: {max_queue_delay: 5ms}\n");
  ASSERT_TRUE(served.poll());
  auto request = [](int64_t rowsA, int64_t rowsB, float value) {
    Json body =
        oneInput("a", {rowsA, 2}, std::vector<float>(static_cast<size_t>(2 * rowsA), value));
    body["inputs"].push_back({{"name", "b"},
                              {"shape", {rowsB, 2}},
                              {"datatype", "FP32"},
                              {"data", std::vector<float>(static_cast<size_t>(2 * rowsB), 1.0f)}});
    return body;
  };
  std::atomic<int> wrong{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < 10; ++i) {
        const auto value = static_cast<float>(c * 10 + i);
        if (c == 0 && i % 2 == 0) {
          // Rows that disagree between inputs run alone: the engine refuses them.
          if (served.post("/v2/models/pair/infer", request(2, 3, value).dump()).status == 200) {
            ++wrong;
          }
          continue;
        }
        const Json answer = served.postJson("/v2/models/pair/infer", request(1, 1, value));
        if (answer["outputs"][0]["data"] != Json({value + 1, value + 1})) ++wrong;
      }
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_EQ(wrong, 0);
}

TEST(Serve, ConfigOverridesRefineTheSignature) {
  ServedRepository served;
  served.putModel("fixed", 1, "relu");
  served.put("fixed/config.yaml",
             "inputs: [{name: x, datatype: FP32, shape: [-1, 3]}]\n"
             "outputs: [{name: y, shape: [-1, 3]}]\n");
  // Mismatches: an unknown name, another data type, a changed fixed dimension.
  served.putModel("unknown", 1, "relu");
  served.put("unknown/config.yaml", "inputs: [{name: image}]\n");
  served.putModel("dtype", 1, "add_v1");
  served.put("dtype/config.yaml", "inputs: [{name: x, datatype: INT64}]\n");
  served.putModel("shape", 1, "add_v1");
  served.put("shape/config.yaml", "outputs:\n  - name: y\n    shape: [-1, 4]\n");
  served.putModel("nobatch", 1, "add_v1");
  served.put("nobatch/config.yaml",
             "inputs: [{name: x, shape: [2, 3]}]\n"
             "max_batch_size: 4\ndynamic_batching:\n");
  ASSERT_TRUE(served.poll());

  const Json metadata = Json::parse(served.get("/v2/models/fixed").body);
  EXPECT_EQ(metadata["inputs"][0]["shape"], Json({-1, 3}));
  EXPECT_EQ(metadata["outputs"][0]["shape"], Json({-1, 3}));
  const Json answer =
      served.postJson("/v2/models/fixed/infer", oneInput("x", {1, 3}, {-1.0f, 2.0f, -3.0f}));
  EXPECT_EQ(answer["outputs"][0]["data"], Json({0.0, 2.0, 0.0}));
  const Json refused =
      served.postJson("/v2/models/fixed/infer", oneInput("x", {1, 2}, {1.0f, 2.0f}), 400);
  EXPECT_EQ(refused["error"], "input 'x': expected shape [-1, 3], given [1, 2]");

  auto reason = [&](const std::string& model) {
    EXPECT_EQ(served.get(fmt::format("/v2/models/{}/versions/1/ready", model)).status, 503);
    const Json status = Json::parse(served.get(fmt::format("/v1/models/{}", model)).body);
    EXPECT_EQ(status["model_version_status"][0]["state"], "END") << status.dump();
    return status["model_version_status"][0]["status"]["error_message"].get<std::string>();
  };
  EXPECT_NE(reason("unknown").find("config.yaml input 'image' is not an input of the model, which "
                                   "has 'x' [-1, -1]"),
            std::string::npos);
  EXPECT_NE(
      reason("dtype").find("config.yaml input 'x' has datatype INT64, the model declares FP32"),
      std::string::npos);
  const std::string shape = reason("shape");
  EXPECT_NE(shape.find("config.yaml output 'y' has shape [-1, 4], which does not fit the model's "
                       "[-1, 3]"),
            std::string::npos)
      << shape;
  EXPECT_NE(shape.find("shape/config.yaml:2:5"), std::string::npos) << shape;
  EXPECT_NE(reason("nobatch").find("dynamic_batching needs"), std::string::npos);

  // A fixed config.yaml retries the unchanged file; a changed one reloads a serving version.
  served.put("unknown/config.yaml", "inputs: [{name: x}]\n");
  served.put("fixed/config.yaml", "inputs: [{name: x, shape: [-1, 2]}]\n");
  ASSERT_TRUE(served.poll());
  EXPECT_EQ(served.get("/v2/models/unknown/versions/1/ready").status, 200);
  EXPECT_EQ(served.postJson("/v2/models/fixed/infer",
                            oneInput("x", {1, 2}, {1.0f, -2.0f}))["outputs"][0]["data"],
            Json({1.0, 0.0}));
}

TEST(Serve, BadRequestsGetClearErrors) {
  http::HttpServerOptions options;
  options.maxBodyBytes = 4096;
  ServedRepository served("file", options);
  served.putModel("iris", 1, "iris");
  ASSERT_TRUE(served.poll());
  auto error = [&](const std::string& path, const std::string& body, long status) {
    const http::Response response = served.post(path, body);
    EXPECT_EQ(response.status, status) << body << " -> " << response.body;
    return Json::parse(response.body, nullptr, false).value("error", std::string());
  };
  EXPECT_EQ(
      error("/v2/models/iris/infer",
            R"({"inputs":[{"name":"input","shape":[1,5],"datatype":"FP32","data":[1,2,3,4,5]}]})",
            400),
      "input 'input': expected shape [-1, 4], given [1, 5]");
  EXPECT_EQ(
      error("/v2/models/iris/infer",
            R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"INT64","data":[1,2,3,4]}]})",
            400),
      "input 'input': expected datatype FP32, given INT64");
  EXPECT_NE(
      error("/v2/models/iris/infer",
            R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3]}]})", 400)
          .find("needs 4 values, given 3"),
      std::string::npos);
  EXPECT_NE(error("/v2/models/iris/infer", R"({"inputs":[]})", 400).find("'input' is missing"),
            std::string::npos);
  EXPECT_NE(
      error("/v1/models/iris:predict", R"({"instances":[[1,2,3,4],[1,2]]})", 400).find("ragged"),
      std::string::npos);
  EXPECT_EQ(error("/v2/models/iris/infer", "{not json", 400), "the request body is not valid JSON");
  EXPECT_NE(error("/v2/models/nope/infer", "{}", 404).find("unknown model 'nope'"),
            std::string::npos);
  EXPECT_NE(error("/v2/models/iris/versions/9/infer", "{}", 404).find("no version 9"),
            std::string::npos);
  EXPECT_NE(error("/v2/models/iris/infer", std::string(5000, ' '), 413).find("limit of 4096"),
            std::string::npos);
  EXPECT_EQ(served.get("/v2/models/iris/infer").status, 405);
  EXPECT_EQ(served.get("/nothing/here").status, 404);
  // The server still answers after all of that.
  EXPECT_EQ(served.get("/v2/health/live").status, 200);
}

TEST(Serve, ShutdownDrainsRequestsInFlight) {
  ServedRepository served;
  served.putModel("cnn", 1, "cnn");
  ASSERT_TRUE(served.poll());
  const int port = served.port();
  // A large batch keeps the engine busy for a while; binary data keeps the body cheap.
  const int rows = 2048;
  const size_t bytes = rows * 256 * sizeof(float);
  const std::string header = fmt::format(
      R"({{"inputs":[{{"name":"x","shape":[{},1,16,16],"datatype":"FP32","parameters":{{"binary_data_size":{}}}}}]}})",
      rows, bytes);
  const std::string body = header + std::string(bytes, '\0');
  http::Response response;
  std::thread client([&] {
    response = served.post("/v2/models/cnn/infer", body,
                           {{"Inference-Header-Content-Length", std::to_string(header.size())}});
  });
  const VersionMetrics& metrics = served.metrics().version("cnn", 1);
  for (int i = 0; i < 5000 && metrics.requests == 0; ++i) std::this_thread::sleep_for(1ms);
  served.shutdown();  // while the request runs
  client.join();
  EXPECT_EQ(response.status, 200) << response.body.substr(0, 200);
  EXPECT_EQ(Json::parse(response.body)["outputs"][0]["shape"], Json({rows, 10}));
  served.waitForShutdown();
  EXPECT_FALSE(skiff::testing::portAcceptsConnections(port));
}

// A client that sends "Expect: 100-continue" gets the interim answer before its body.
TEST(Serve, AnswersExpectContinue) {
  ServedRepository served;
  served.putModel("iris", 1, "iris");
  ASSERT_TRUE(served.poll());
  const std::string body =
      R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]})";
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(served.port()));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  const std::string head = fmt::format(
      "POST /v2/models/iris/infer HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n"
      "Expect: 100-continue\r\nConnection: close\r\n\r\n",
      body.size());
  ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  char buffer[4096];
  ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
  ASSERT_GT(got, 0);
  EXPECT_EQ(std::string(buffer, static_cast<size_t>(got)).rfind("HTTP/1.1 100 Continue", 0), 0u);
  ASSERT_EQ(::send(fd, body.data(), body.size(), MSG_NOSIGNAL), static_cast<ssize_t>(body.size()));
  std::string response;
  while ((got = ::recv(fd, buffer, sizeof buffer, 0)) > 0)
    response.append(buffer, static_cast<size_t>(got));
  ::close(fd);
  EXPECT_EQ(response.rfind("HTTP/1.1 200 OK", 0), 0u) << response;
  EXPECT_NE(response.find("probabilities"), std::string::npos);
}

TEST(Serve, ReadyOnceTheRepositoryWasReadEvenWhenEmpty) {
  ServedRepository served;
  EXPECT_EQ(served.get("/v2/health/ready").status, 503);
  EXPECT_EQ(served.get("/v2/health/live").status, 200);
  ASSERT_TRUE(served.poll());
  EXPECT_EQ(served.get("/v2/health/ready").status, 200);
  EXPECT_EQ(Json::parse(served.get("/v2").body)["extensions"][0], "binary_tensor_data");
}

TEST(Serve, MetadataInBothApis) {
  ServedRepository served;
  served.putModel("iris", 4, "iris");
  ASSERT_TRUE(served.poll());
  const Json kserve = Json::parse(served.get("/v2/models/iris").body);
  EXPECT_EQ(kserve["versions"], Json({"4"}));
  EXPECT_EQ(kserve["inputs"][0],
            Json({{"name", "input"}, {"datatype", "FP32"}, {"shape", {-1, 4}}}));
  EXPECT_EQ(kserve["outputs"][0]["name"], "probabilities");
  const Json tf = Json::parse(served.get("/v1/models/iris/versions/4/metadata").body);
  const Json& signature = tf["metadata"]["signature_def"]["signature_def"]["serving_default"];
  EXPECT_EQ(signature["inputs"]["input"]["dtype"], "DT_FLOAT");
  EXPECT_EQ(signature["inputs"]["input"]["tensor_shape"]["dim"][1]["size"], "4");
}

TEST(Serve, OnnxSignatureOfGeneratedModels) {
  const Signature cnn = readOnnxSignature(modelBytes("cnn"), "cnn.onnx");
  ASSERT_EQ(cnn.inputs.size(), 1u);
  EXPECT_EQ(cnn.inputs[0].name, "x");
  EXPECT_EQ(cnn.inputs[0].shape, Shape({-1, 1, 16, 16}));
  EXPECT_EQ(cnn.outputs[0].shape, Shape({-1, 10}));
}

// The command the local deploy target runs, end to end: start, ready, infer, SIGTERM.
TEST(ServeCommand, ServesAFileRepositoryAndStopsOnSigterm) {
  skiff::testing::TempDir repository("skiff-serve-repo");
  repository.write("models/iris/1/model.onnx", modelBytes("iris"));
  skiff::testing::TempDir cache("skiff-serve-cache");
  const int port = skiff::testing::freeLoopbackPort();
  const std::unique_ptr<Subprocess> server = startServe(
      {"--model-repository", "file://" + (repository.path() / "models").string(), "--poll", "5",
       "--host", "127.0.0.1", "--cache-dir", (cache.path() / "c").string(), "--threads", "2"},
      port, cache.path() / "serve.log");
  ASSERT_TRUE(server);
  http::Client client;
  http::Request request;
  request.method = "POST";
  request.url = fmt::format("http://127.0.0.1:{}/v2/models/iris/infer", port);
  const std::string body =
      R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]})";
  request.body = body;
  const http::Response response = client.send(request);
  ASSERT_EQ(response.status, 200) << response.body;
  const Json expected = reference("iris")["outputs"]["probabilities"]["data"];
  expectClose(Json::parse(response.body)["outputs"][0]["data"],
              Json(std::vector<double>(expected.begin(), expected.begin() + 3)));
  ::kill(server->pid(), SIGTERM);
  EXPECT_EQ(server->wait(10s), 0) << readFile(cache.path() / "serve.log");
}

TEST(ServeCommand, RefusesABadRepositoryUri) {
  const CommandResult result =
      skiff::testing::runSkiff({"serve", "--model-repository", "s3://bucket/models"});
  EXPECT_NE(result.exitCode, 0);
  EXPECT_FALSE(result.err.empty());
}

}  // namespace
}  // namespace skiff::serve::testing
