// KServe v2 over gRPC, through a client built from the same .proto files:
// the same models, versions, labels and errors as REST, typed and raw
// contents, and grpc.health.v1 for probes.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstring>

#include "serve/grpc_codec.hpp"
#include "serve/grpc_server.hpp"
#include "serve_fixture.hpp"
#include "skiff_serve_proto/grpc_predict_v2.grpc.pb.h"
#include "skiff_serve_proto/health.grpc.pb.h"

namespace skiff::serve::testing {
namespace {

using inference::GRPCInferenceService;

// A REST server (the fixture) and a gRPC server over its model manager.
struct GrpcServed {
  GrpcServed() {
    GrpcServerOptions options;
    options.port = 0;
    server = std::make_unique<GrpcServer>(served.manager(), served.metrics(), options);
    server->start();
    channel = grpc::CreateChannel(fmt::format("127.0.0.1:{}", server->port()),
                                  grpc::InsecureChannelCredentials());
    stub = GRPCInferenceService::NewStub(channel);
  }
  ServedRepository served;
  std::unique_ptr<GrpcServer> server;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<GRPCInferenceService::Stub> stub;
};

// A ModelInferRequest of FP32 `x` with typed contents.
inference::ModelInferRequest typedRequest(const std::string& model, const Json& input,
                                          const std::string& version = "") {
  inference::ModelInferRequest request;
  request.set_model_name(model);
  request.set_model_version(version);
  request.set_id("req-7");
  auto* tensor = request.add_inputs();
  tensor->set_name("x");
  tensor->set_datatype("FP32");
  for (const Json& dimension : input["shape"]) tensor->add_shape(dimension.get<int64_t>());
  for (const Json& value : input["data"]) {
    tensor->mutable_contents()->add_fp32_contents(value.get<float>());
  }
  return request;
}

Json values(const Tensor& tensor) {
  Json out = Json::array();
  for (size_t i = 0; i < tensor.size(); ++i) out.push_back(tensor.number(i));
  return out;
}

TEST(ServeGrpc, TypedAndRawContentsMatchTheReference) {
  GrpcServed fixture;
  fixture.served.putModel("add", 1, "add_v1");
  ASSERT_TRUE(fixture.served.poll());
  const Json ref = reference("add_v1");
  // Typed in, typed out.
  inference::ModelInferRequest request = typedRequest("add", ref["inputs"]["x"]);
  inference::ModelInferResponse response;
  {
    grpc::ClientContext context;
    const grpc::Status status = fixture.stub->ModelInfer(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  EXPECT_EQ(response.model_name(), "add");
  EXPECT_EQ(response.model_version(), "1");
  EXPECT_EQ(response.id(), "req-7");
  ASSERT_EQ(response.outputs_size(), 1);
  EXPECT_EQ(response.outputs(0).name(), "y");
  EXPECT_EQ(response.outputs(0).datatype(), "FP32");
  EXPECT_EQ(response.raw_output_contents_size(), 0);
  expectClose(values(decodeOutputs(response).at(0)), ref["outputs"]["y"]["data"]);
  // Raw in, raw out.
  inference::ModelInferRequest raw = request;
  const auto& fp32 = raw.inputs(0).contents().fp32_contents();
  raw.add_raw_input_contents(std::string(reinterpret_cast<const char*>(fp32.data()),
                                         static_cast<size_t>(fp32.size()) * sizeof(float)));
  raw.mutable_inputs(0)->clear_contents();
  inference::ModelInferResponse rawResponse;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(fixture.stub->ModelInfer(&context, raw, &rawResponse).ok());
  }
  ASSERT_EQ(rawResponse.raw_output_contents_size(), 1);
  EXPECT_FALSE(rawResponse.outputs(0).has_contents());
  expectClose(values(decodeOutputs(rawResponse).at(0)), ref["outputs"]["y"]["data"]);
  // The REST answer is the same.
  const Json rest = fixture.served.postJson("/v2/models/add/infer", kserveRequest(ref["inputs"]));
  expectClose(values(decodeOutputs(rawResponse).at(0)), rest["outputs"][0]["data"]);
}

TEST(ServeGrpc, VersionsAndLabelsAsRest) {
  GrpcServed fixture;
  fixture.served.putModel("add", 1, "add_v1");
  fixture.served.putModel("add", 2, "add_v2");
  fixture.served.put("add/config.yaml", "version_policy: all\nlabels: {stable: 1, canary: 2}\n");
  ASSERT_TRUE(fixture.served.poll());
  const Json input = reference("add_v1")["inputs"]["x"];
  const auto versionOf = [&](const std::string& version) {
    inference::ModelInferResponse response;
    grpc::ClientContext context;
    const grpc::Status status =
        fixture.stub->ModelInfer(&context, typedRequest("add", input, version), &response);
    EXPECT_TRUE(status.ok()) << version << ": " << status.error_message();
    return response.model_version();
  };
  EXPECT_EQ(versionOf(""), "2");  // the highest, as REST
  EXPECT_EQ(versionOf("1"), "1");
  EXPECT_EQ(versionOf("stable"), "1");
  EXPECT_EQ(versionOf("canary"), "2");
  inference::ModelMetadataRequest request;
  request.set_name("add");
  request.set_version("1");
  inference::ModelMetadataResponse metadata;
  grpc::ClientContext context;
  ASSERT_TRUE(fixture.stub->ModelMetadata(&context, request, &metadata).ok());
  EXPECT_EQ(std::vector<std::string>(metadata.versions().begin(), metadata.versions().end()),
            (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(metadata.platform(), "onnx");
  ASSERT_EQ(metadata.inputs_size(), 1);
  EXPECT_EQ(metadata.inputs(0).name(), "x");
  EXPECT_EQ(metadata.inputs(0).datatype(), "FP32");
  EXPECT_EQ(
      std::vector<int64_t>(metadata.inputs(0).shape().begin(), metadata.inputs(0).shape().end()),
      (std::vector<int64_t>{-1, 3}));
}

// ModelInfer naming no version follows config.yaml's traffic split, as REST.
TEST(ServeGrpc, InferNamingNoVersionFollowsTheTrafficSplit) {
  GrpcServed fixture;
  fixture.served.putModel("add", 1, "add_v1");
  fixture.served.putModel("add", 2, "add_v2");
  fixture.served.put("add/config.yaml",
                     "version_policy: all\nlabels: {stable: 1, canary: 2}\n"
                     "traffic: {stable: 3, canary: 1}\n");
  ASSERT_TRUE(fixture.served.poll());
  const inference::ModelInferRequest request =
      typedRequest("add", reference("add_v1")["inputs"]["x"]);
  std::map<std::string, int> counts;
  for (int i = 0; i < 40; ++i) {
    inference::ModelInferResponse response;
    grpc::ClientContext context;
    ASSERT_TRUE(fixture.stub->ModelInfer(&context, request, &response).ok());
    ++counts[response.model_version()];
  }
  EXPECT_EQ(counts, (std::map<std::string, int>{{"1", 30}, {"2", 10}}));
}

TEST(ServeGrpc, ErrorsAreRestsWithGrpcCodes) {
  GrpcServed fixture;
  fixture.served.putModel("iris", 1, "iris");
  ASSERT_TRUE(fixture.served.poll());
  const auto infer = [&](const inference::ModelInferRequest& request) {
    inference::ModelInferResponse response;
    grpc::ClientContext context;
    return fixture.stub->ModelInfer(&context, request, &response);
  };
  // Each error has REST's message; the code follows REST's status.
  const auto restError = [&](const std::string& path, const Json& body, long status) {
    return fixture.served.postJson(path, body, status).value("error", "");
  };
  Json shape = {{"shape", {1, 5}}, {"data", {1, 2, 3, 4, 5}}};
  inference::ModelInferRequest bad = typedRequest("iris", shape);
  bad.mutable_inputs(0)->set_name("input");
  grpc::Status status = infer(bad);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "input 'input': expected shape [-1, 4], given [1, 5]");
  EXPECT_EQ(status.error_message(), restError("/v2/models/iris/infer",
                                              {{"inputs",
                                                {{{"name", "input"},
                                                  {"shape", {1, 5}},
                                                  {"datatype", "FP32"},
                                                  {"data", {1, 2, 3, 4, 5}}}}}},
                                              400));
  status = infer(typedRequest("nope", shape));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), restError("/v2/models/nope/infer", Json::object(), 404));
  status = infer(typedRequest("iris", shape, "9"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "model 'iris' has no version 9 (serving: 1)");
  status = infer(typedRequest("iris", shape, "beta"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "model 'iris' has no label 'beta' (labels: none)");
  // Values in the wrong field, and raw contents of the wrong size.
  inference::ModelInferRequest misplaced = typedRequest("iris", shape);
  misplaced.mutable_inputs(0)->set_name("input");
  misplaced.mutable_inputs(0)->set_datatype("INT64");
  status = infer(misplaced);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("INT64 goes in int64_contents"), std::string::npos)
      << status.error_message();
  inference::ModelInferRequest shortRaw = bad;
  shortRaw.mutable_inputs(0)->clear_contents();
  shortRaw.add_raw_input_contents(std::string(7, '\0'));
  status = infer(shortRaw);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "input 'input': raw_input_contents holds 7 bytes; shape [1, 5] of FP32 needs 20");
  // Readiness of a model: false for a known model's missing version? NOT_FOUND as REST.
  inference::ModelReadyRequest ready;
  ready.set_name("nope");
  inference::ModelReadyResponse readyResponse;
  grpc::ClientContext context;
  EXPECT_EQ(fixture.stub->ModelReady(&context, ready, &readyResponse).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST(ServeGrpc, HealthAndServerCalls) {
  GrpcServed fixture;
  auto health = grpc::health::v1::Health::NewStub(fixture.channel);
  const auto check = [&](const std::string& service, grpc::Status* status = nullptr) {
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    grpc::ClientContext context;
    const grpc::Status result = health->Check(&context, request, &response);
    if (status) *status = result;
    return response.status();
  };
  // Not serving until the repository was read once, as /v2/health/ready.
  EXPECT_EQ(check(""), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  {
    inference::ServerReadyResponse ready;
    grpc::ClientContext context;
    ASSERT_TRUE(fixture.stub->ServerReady(&context, {}, &ready).ok());
    EXPECT_FALSE(ready.ready());
  }
  ASSERT_TRUE(fixture.served.poll());
  EXPECT_EQ(check(""), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(check("inference.GRPCInferenceService"),
            grpc::health::v1::HealthCheckResponse::SERVING);
  grpc::Status status;
  check("other.Service", &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  inference::ServerLiveResponse live;
  inference::ServerReadyResponse ready;
  inference::ServerMetadataResponse metadata;
  grpc::ClientContext a, b, c;
  ASSERT_TRUE(fixture.stub->ServerLive(&a, {}, &live).ok());
  ASSERT_TRUE(fixture.stub->ServerReady(&b, {}, &ready).ok());
  ASSERT_TRUE(fixture.stub->ServerMetadata(&c, {}, &metadata).ok());
  EXPECT_TRUE(live.live());
  EXPECT_TRUE(ready.ready());
  EXPECT_EQ(metadata.name(), "skiff");
}

// Every data type through typed and raw contents, both ways (no model needed).
TEST(ServeGrpc, CodecCarriesEveryType) {
  const std::vector<double> numbers = {0, 1, 1, 0, 1, 1};
  for (const DataType type :
       {DataType::kBool, DataType::kUint8, DataType::kUint16, DataType::kUint32, DataType::kUint64,
        DataType::kInt8, DataType::kInt16, DataType::kInt32, DataType::kInt64, DataType::kFp16,
        DataType::kFp32, DataType::kFp64, DataType::kBytes}) {
    Tensor tensor;
    if (type == DataType::kBytes) {
      tensor.name = "t";
      tensor.type = type;
      tensor.shape = {2, 3};
      tensor.strings = {"a", "", "ccc", std::string("\0x", 2), "e", "ff"};
    } else {
      tensor = makeTensor("t", type, {2, 3}, numbers);
    }
    for (const bool raw : {false, true}) {
      inference::ModelInferResponse response;
      encodeOutputs({tensor}, raw, response);
      // FP16 has no typed field: it goes raw either way.
      EXPECT_EQ(response.raw_output_contents_size(), raw || type == DataType::kFp16 ? 1 : 0);
      const Tensor back = decodeOutputs(response).at(0);
      EXPECT_EQ(back.type, type) << dataTypeName(type);
      EXPECT_EQ(back.shape, tensor.shape);
      EXPECT_EQ(back.bytes, tensor.bytes) << dataTypeName(type) << (raw ? " raw" : " typed");
      EXPECT_EQ(back.strings, tensor.strings);
    }
  }
  // Values a type cannot hold are refused, not wrapped.
  inference::ModelInferRequest request;
  auto* input = request.add_inputs();
  input->set_name("t");
  input->set_datatype("INT8");
  input->add_shape(1);
  input->mutable_contents()->add_int_contents(300);
  try {
    decodeInputs(request);
    ADD_FAILURE() << "300 decoded as INT8";
  } catch (const RequestError& e) {
    EXPECT_EQ(std::string(e.what()), "input 't': value 300 at 0 does not fit INT8");
  }
  input->set_datatype("FP16");
  EXPECT_THROW(decodeInputs(request), RequestError);
  EXPECT_EQ(grpcCode(503), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(grpcCode(413), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

}  // namespace
}  // namespace skiff::serve::testing
