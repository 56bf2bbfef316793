// Model control as Triton's repository extension: the index with states,
// load and unload over REST and gRPC in explicit mode, refused in poll mode,
// and `skiff serve --model-control-mode explicit --load-model` end to end.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <thread>

#include "common/subprocess.hpp"
#include "harness/services.hpp"
#include "serve/grpc_server.hpp"
#include "serve_fixture.hpp"
#include "skiff_serve_proto/grpc_predict_v2.grpc.pb.h"

namespace skiff::serve::testing {
namespace {

using namespace std::chrono_literals;

ManagerOptions explicitControl(std::vector<std::string> startModels = {}) {
  ManagerOptions options;
  options.mode = ControlMode::kExplicit;
  options.startModels = std::move(startModels);
  return options;
}

const Json& addRequest() {
  static const Json request = kserveRequest(reference("add_v1")["inputs"]);
  return request;
}

// A gRPC server over the manager of `served`, and a stub to call it.
struct GrpcOver {
  explicit GrpcOver(ServedRepository& served)
      : server(served.manager(), served.metrics(), options()) {
    server.start();
    stub = inference::GRPCInferenceService::NewStub(grpc::CreateChannel(
        fmt::format("127.0.0.1:{}", server.port()), grpc::InsecureChannelCredentials()));
  }
  ~GrpcOver() {
    server.shutdown();
    server.wait();
  }
  static GrpcServerOptions options() {
    GrpcServerOptions options;
    options.port = 0;
    return options;
  }
  grpc::Status unload(const std::string& model) {
    inference::RepositoryModelUnloadRequest request;
    request.set_model_name(model);
    inference::RepositoryModelUnloadResponse response;
    grpc::ClientContext context;
    return stub->RepositoryModelUnload(&context, request, &response);
  }
  GrpcServer server;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub;
};

// The version that answered an infer request naming none.
std::string servedVersion(ServedRepository& served, const std::string& model = "add") {
  return served.postJson(fmt::format("/v2/models/{}/infer", model), addRequest())
      .value("model_version", "");
}

Json index(ServedRepository& served, const Json& body = nullptr) {
  return served.sendJson("POST", "/v2/repository/index", body);
}

TEST(ServeControl, PollModeRefusesLoadAndUnload) {
  ServedRepository served;
  served.putModel("add", 1, "add_v1");
  ASSERT_TRUE(served.poll());
  for (const char* action : {"load", "unload"}) {
    const Json refused =
        served.postJson(fmt::format("/v2/repository/models/add/{}", action), nullptr, 400);
    const std::string message = refused.value("error", "");
    EXPECT_NE(message.find("explicit model load / unload is not allowed if polling is enabled"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("--model-control-mode explicit"), std::string::npos) << message;
  }
  // Nothing changed: the model still serves, and the index says so.
  EXPECT_EQ(servedVersion(served), "1");
  EXPECT_EQ(index(served), Json::parse(R"([{"name":"add","version":"1","state":"READY",
                                            "reason":""}])"));
}

TEST(ServeControl, IndexListsStatesAndModelsNotLoaded) {
  ServedRepository served("file", {}, explicitControl({"add"}));
  served.putModel("add", 1, "add_v1");
  served.putModel("add", 2, "add_v2");
  served.put("add/config.yaml", "version_policy: all\n");
  served.putModel("iris", 1, "iris");
  served.put("broken/1/model.onnx", "not a model");
  ASSERT_TRUE(served.poll());
  EXPECT_EQ(index(served), Json::parse(R"([
    {"name":"add","version":"1","state":"READY","reason":""},
    {"name":"add","version":"2","state":"READY","reason":""},
    {"name":"broken"},
    {"name":"iris"}])"));
  // A load that fails answers 400 with the reason, and the index keeps it.
  const Json failed = served.postJson("/v2/repository/models/broken/load", nullptr, 400);
  EXPECT_NE(failed.value("error", "").find("failed to load model 'broken'"), std::string::npos)
      << failed.dump();
  EXPECT_NE(failed.value("error", "").find("not an ONNX model"), std::string::npos)
      << failed.dump();
  const Json rows = index(served);
  ASSERT_EQ(rows.size(), 4u) << rows.dump();
  EXPECT_EQ(rows[2]["name"], "broken");
  EXPECT_EQ(rows[2]["state"], "UNAVAILABLE");
  EXPECT_NE(rows[2]["reason"].get<std::string>().find("broken/1/model.onnx"), std::string::npos);
  // {"ready": true}: only what can serve.
  EXPECT_EQ(index(served, {{"ready", true}}).size(), 2u);
  EXPECT_EQ(
      served.sendJson("POST", "/v2/repository/index", {{"ready", "yes"}}, 400).value("error", ""),
      "\"ready\" of the index request must be a bool");
  EXPECT_EQ(served.get("/v2/repository/index").status, 405);
}

TEST(ServeControl, ExplicitLoadAndUnloadOverRest) {
  ServedRepository served("file", {}, explicitControl());
  served.putModel("add", 1, "add_v1");
  ASSERT_TRUE(served.poll());
  // Nothing is served until it is loaded.
  const Json unknown = served.postJson("/v2/models/add/infer", addRequest(), 404);
  EXPECT_EQ(unknown.value("error", ""),
            "unknown model 'add' (loaded: no model; load one with POST "
            "/v2/repository/models/add/load)");
  EXPECT_EQ(served.postJson("/v2/repository/models/add/load", nullptr), Json::object());
  EXPECT_EQ(servedVersion(served), "1");
  // Polls do not change a loaded model in explicit mode; a load does.
  served.putModel("add", 2, "add_v2");
  ASSERT_TRUE(served.poll());
  EXPECT_EQ(servedVersion(served), "1");
  served.postJson("/v2/repository/models/add/load", nullptr);
  EXPECT_EQ(servedVersion(served), "2");
  // Unload: a request holding the version finishes on it; the index says
  // UNLOADING until it lets go.
  ModelManager::Lookup inFlight = served.manager().find("add");
  ASSERT_TRUE(inFlight.version);
  served.postJson("/v2/repository/models/add/unload", nullptr);
  EXPECT_EQ(index(served)[0],
            Json::parse(R"({"name":"add","version":"2","state":"UNLOADING","reason":"unloaded"})"));
  const std::vector<double> zeros = {0, 0, 0};
  EXPECT_EQ(
      inFlight.version->infer({makeTensor("x", DataType::kFp32, {1, 3}, zeros)}).at(0).number(2),
      6.0);  // version 2: x + 2 * [1, 2, 3]
  inFlight = {};
  EXPECT_EQ(index(served)[0]["state"], "UNAVAILABLE");
  served.postJson("/v2/models/add/infer", addRequest(), 404);
  // Unknown models, parameters and endpoints are refused, saying what there is.
  const std::string noSuch =
      served.postJson("/v2/repository/models/nope/load", nullptr, 404).value("error", "");
  EXPECT_TRUE(noSuch.starts_with("cannot load model 'nope': the repository file://")) << noSuch;
  EXPECT_TRUE(noSuch.ends_with(" has no such model (it has: add)")) << noSuch;
  EXPECT_EQ(served.postJson("/v2/repository/models/add/unload", nullptr, 404).value("error", ""),
            "cannot unload: unknown model 'add' (loaded: no model; load one with POST "
            "/v2/repository/models/add/load)");
  const std::string withParameters =
      served.postJson("/v2/repository/models/add/load", {{"parameters", {{"config", "{}"}}}}, 400)
          .value("error", "");
  EXPECT_NE(withParameters.find("cannot load model 'add' with parameters"), std::string::npos)
      << withParameters;
  EXPECT_NE(served.postJson("/v2/repository/models/add/reload", nullptr, 404)
                .value("error", "")
                .find("/v2/repository/models/NAME/load"),
            std::string::npos);
}

// The same calls over gRPC, with a client from the same protos.
TEST(ServeControl, ExplicitLoadAndUnloadOverGrpc) {
  ServedRepository served("file", {}, explicitControl());
  served.putModel("add", 1, "add_v1");
  served.putModel("iris", 1, "iris");
  ASSERT_TRUE(served.poll());
  GrpcOver rpc(served);
  auto& stub = rpc.stub;
  const auto load = [&](const std::string& model, bool withParameters = false) {
    inference::RepositoryModelLoadRequest request;
    request.set_model_name(model);
    if (withParameters) (*request.mutable_parameters())["config"].set_string_param("{}");
    inference::RepositoryModelLoadResponse response;
    grpc::ClientContext context;
    return stub->RepositoryModelLoad(&context, request, &response);
  };
  const auto unload = [&](const std::string& model) { return rpc.unload(model); };
  // name:version:state:reason of each row, and the call's status.
  const auto indexRows = [&](bool ready, const std::string& repository = "") {
    inference::RepositoryIndexRequest request;
    request.set_ready(ready);
    request.set_repository_name(repository);
    inference::RepositoryIndexResponse response;
    grpc::ClientContext context;
    const grpc::Status status = stub->RepositoryIndex(&context, request, &response);
    std::vector<std::string> rows;
    for (const auto& model : response.models()) {
      rows.push_back(
          fmt::format("{}:{}:{}:{}", model.name(), model.version(), model.state(), model.reason()));
    }
    return std::pair{status, rows};
  };
  const auto infer = [&] {
    inference::ModelInferRequest request;
    request.set_model_name("add");
    auto* input = request.add_inputs();
    input->set_name("x");
    input->set_datatype("FP32");
    input->add_shape(1);
    input->add_shape(3);
    for (const float value : {1.0f, 2.0f, 3.0f})
      input->mutable_contents()->add_fp32_contents(value);
    inference::ModelInferResponse response;
    grpc::ClientContext context;
    return stub->ModelInfer(&context, request, &response);
  };
  EXPECT_EQ(indexRows(false).second, (std::vector<std::string>{"add:::", "iris:::"}));
  EXPECT_EQ(infer().error_code(), grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(load("add").ok());
  EXPECT_TRUE(infer().ok());
  EXPECT_EQ(indexRows(true).second, (std::vector<std::string>{"add:1:READY:"}));
  ASSERT_TRUE(unload("add").ok());
  EXPECT_EQ(infer().error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(indexRows(false).second,
            (std::vector<std::string>{"add:1:UNAVAILABLE:unloaded", "iris:::"}));
  // Errors: REST's messages with mapped codes.
  const grpc::Status missing = load("nope");
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(missing.error_message(),
            served.postJson("/v2/repository/models/nope/load", nullptr, 404).value("error", ""));
  EXPECT_EQ(unload("iris").error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(load("add", true).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(indexRows(false, "other").first.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// The poll-mode refusal over gRPC carries REST's message.
TEST(ServeControl, PollModeRefusesLoadOverGrpc) {
  ServedRepository served;
  served.putModel("add", 1, "add_v1");
  ASSERT_TRUE(served.poll());
  GrpcOver rpc(served);
  const grpc::Status status = rpc.unload("add");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            served.postJson("/v2/repository/models/add/unload", nullptr, 400).value("error", ""));
  EXPECT_EQ(servedVersion(served), "1");
}

// `skiff serve --model-control-mode explicit --load-model add`, end to end.
TEST(ServeControlCommand, ExplicitModeServesTheStartModels) {
  skiff::testing::TempDir repository("skiff-serve-repo");
  repository.write("models/add/1/model.onnx", modelBytes("add_v1"));
  repository.write("models/iris/1/model.onnx", modelBytes("iris"));
  skiff::testing::TempDir cache("skiff-serve-cache");
  const int port = skiff::testing::freeLoopbackPort();
  const std::unique_ptr<Subprocess> server =
      startServe({"--model-repository", "file://" + (repository.path() / "models").string(),
                  "--poll", "1", "--cache-dir", (cache.path() / "c").string(), "--threads", "2",
                  "--model-control-mode", "explicit", "--load-model", "add"},
                 port, cache.path() / "serve.log");
  ASSERT_TRUE(server);
  http::Client client;
  const auto post = [&](const std::string& path, const std::string& body = "") {
    http::Request request;
    request.method = "POST";
    request.url = fmt::format("http://127.0.0.1:{}{}", port, path);
    request.body = body;
    return client.send(request);
  };
  http::Response response = post("/v2/repository/index");
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(Json::parse(response.body),
            Json::parse(R"([{"name":"add","version":"1","state":"READY","reason":""},
                            {"name":"iris"}])"));
  EXPECT_EQ(post("/v2/models/iris/infer", "{}").status, 404);
  response = post("/v2/repository/models/iris/load");
  EXPECT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(post("/v2/models/add/infer", addRequest().dump()).status, 200);
  ::kill(server->pid(), SIGTERM);
  EXPECT_EQ(server->wait(10s), 0) << readFile(cache.path() / "serve.log");
}

TEST(ServeControlCommand, LoadModelNeedsExplicitMode) {
  skiff::testing::TempDir repository("skiff-serve-repo");
  const CommandResult result = skiff::testing::runSkiff(
      {"serve", "--model-repository", repository.path().string(), "--load-model", "add"});
  EXPECT_NE(result.exitCode, 0);
  EXPECT_NE(result.err.find("--model-control-mode explicit"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace skiff::serve::testing
