// Parts of skiff serve that need no model or server: config.yaml, version
// policies, the request parsers and encoders, and the malformed-request corpus.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "../../fuzz/serve_request_parsers.hpp"
#include "common/error.hpp"
#include "serve/model_version.hpp"
#include "serve/protocol.hpp"
#include "serve/repository.hpp"

namespace skiff::serve {
namespace {

using Json = nlohmann::json;

Tensor fp32(std::string name, Shape shape, std::vector<double> values) {
  return makeTensor(std::move(name), DataType::kFp32, std::move(shape), values);
}

std::vector<double> numbers(const Tensor& tensor) {
  std::vector<double> values;
  for (size_t i = 0; i < tensor.size(); ++i) values.push_back(tensor.number(i));
  return values;
}

TEST(ServeConfig, ParsesPoliciesAndLimits) {
  ModelConfig config = parseModelConfig("version_policy: {latest: 2}\nmax_batch_size: 8\n", "c");
  EXPECT_EQ(config.policy.kind, VersionPolicy::Kind::kLatest);
  EXPECT_EQ(config.policy.latest, 2);
  EXPECT_EQ(config.maxBatchSize, 8);
  EXPECT_EQ(parseModelConfig("version_policy: all", "c").policy.kind, VersionPolicy::Kind::kAll);
  config = parseModelConfig("version_policy:\n  specific: [1, 3]\ninstances: 2\n", "c");
  EXPECT_EQ(config.policy.specific, std::vector<int64_t>({1, 3}));
  EXPECT_EQ(config.instances, 2);
  EXPECT_EQ(parseModelConfig("", "c").policy.latest, 1);
}

TEST(ServeConfig, ErrorsNameTheLineAndAHint) {
  try {
    parseModelConfig("max_batch_size: 8\nversion_polcy: all\n", "az://a/c/m/config.yaml");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "az://a/c/m/config.yaml:2:1: unknown field 'version_polcy' (did you mean "
                 "'version_policy'?)");
  }
  EXPECT_THROW(parseModelConfig("max_batch_size: -1", "c"), Error);
  EXPECT_THROW(parseModelConfig("version_policy: {latest: zero}", "c"), Error);
  EXPECT_THROW(parseModelConfig("version_policy: {specific: []}", "c"), Error);
  EXPECT_THROW(parseModelConfig("[1, 2", "c"), Error);
}

TEST(ServeConfig, ParsesBatchingAndOverrides) {
  ModelConfig config = parseModelConfig(
      "max_batch_size: 8\n"
      "dynamic_batching: {max_queue_delay: 2ms, preferred_batch_size: 4}\n"
      "inputs:\n  - {name: x, datatype: FP32, shape: [-1, 3]}\n"
      "outputs: [{name: y}]\n",
      "c");
  ASSERT_TRUE(config.batching);
  EXPECT_EQ(config.batching->maxQueueDelay, std::chrono::microseconds(2000));
  EXPECT_EQ(config.batching->preferredBatchSizes, std::vector<int64_t>({4}));
  EXPECT_EQ(
      parseModelConfig("max_batch_size: 8\ndynamic_batching: {preferred_batch_size: [8, 2]}", "c")
          .batching->preferredBatchSizes,
      std::vector<int64_t>({2, 8}));
  EXPECT_THROW(
      parseModelConfig("max_batch_size: 4\ndynamic_batching: {preferred_batch_size: [2, 8]}", "c"),
      Error);
  ASSERT_EQ(config.inputs.size(), 1u);
  EXPECT_EQ(config.inputs[0].name, "x");
  EXPECT_EQ(config.inputs[0].datatype, "FP32");
  EXPECT_EQ(config.inputs[0].shape, Shape({-1, 3}));
  EXPECT_EQ(config.inputs[0].where, "c:4:5");
  ASSERT_EQ(config.outputs.size(), 1u);
  EXPECT_FALSE(config.outputs[0].shape);
  EXPECT_FALSE(parseModelConfig("max_batch_size: 8", "c").batching);
  EXPECT_EQ(parseModelConfig("max_batch_size: 8\ndynamic_batching: {max_queue_delay: 500}", "c")
                .batching->maxQueueDelay,
            std::chrono::microseconds(500));
  EXPECT_EQ(parseModelConfig("max_batch_size: 8\ndynamic_batching: {max_queue_delay: 50us}", "c")
                .batching->maxQueueDelay,
            std::chrono::microseconds(50));
  EXPECT_TRUE(parseModelConfig("max_batch_size: 2\ndynamic_batching:\n", "c").batching);

  auto problem = [](const std::string& text) {
    try {
      parseModelConfig(text, "m/config.yaml");
    } catch (const Error& e) {
      return e.problem() + " @ " + e.where() + " / " + e.hint();
    }
    return std::string("no error");
  };
  EXPECT_EQ(problem("dynamic_batching: {max_queue_delay: 2ms}"),
            "dynamic_batching needs max_batch_size, the most rows one batch takes @ "
            "m/config.yaml:1:19 / add max_batch_size: N");
  EXPECT_NE(problem("max_batch_size: 4\ndynamic_batching: {max_queue_dely: 2ms}")
                .find("did you mean 'max_queue_delay'?"),
            std::string::npos);
  EXPECT_NE(problem("max_batch_size: 4\ndynamic_batching: {max_queue_delay: 2h}")
                .find("max_queue_delay must be a duration"),
            std::string::npos);
  EXPECT_NE(problem("max_batch_size: 4\ndynamic_batching: {max_queue_delay: 99999999999999999ms}")
                .find("max_queue_delay must be a duration"),
            std::string::npos);
  EXPECT_NE(problem("max_batch_size: 4\ndynamic_batching: {preferred_batch_size: 5}")
                .find("preferred_batch_size is above max_batch_size"),
            std::string::npos);
  EXPECT_NE(problem("inputs: [{datatype: FP32}]").find("needs a name"), std::string::npos);
  EXPECT_NE(problem("inputs: [{name: x, shap: [1]}]").find("did you mean 'shape'?"),
            std::string::npos);
  EXPECT_NE(problem("inputs: [{name: x, shape: [-2]}]").find("-1 (any size)"), std::string::npos);
  EXPECT_NE(problem("outputs: {name: y}").find("outputs must be a list"), std::string::npos);
}

TEST(ServeConfig, OverridesRefineTheSignatureOnly) {
  const Signature model{{{"x", "FP32", {-1, -1}}}, {{"y", "unknown", {}}}};
  Signature signature = model;
  applyOverrides(signature, {{"x", std::nullopt, Shape{-1, 3}, "c:1:1"}},
                 {{"y", "FP32", Shape{-1, 3}, "c:2:1"}});
  EXPECT_EQ(signature.inputs[0].shape, Shape({-1, 3}));
  EXPECT_EQ(signature.outputs[0].datatype, "FP32");  // completes what the file left open
  EXPECT_EQ(signature.outputs[0].shape, Shape({-1, 3}));
  auto problem = [&](const TensorOverride& input) {
    Signature copy = model;
    try {
      applyOverrides(copy, {input}, {});
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(problem({"x", std::nullopt, Shape{-1}, "c:1:1"}).find("does not fit"),
            std::string::npos);
  EXPECT_NE(problem({"z", std::nullopt, std::nullopt, "c:1:1"}).find("which has 'x' [-1, -1]"),
            std::string::npos);
  EXPECT_NE(problem({"x", "INT8", std::nullopt, "c:1:1"}).find("the model declares FP32 (c:1:1)"),
            std::string::npos);
  signature = model;
  signature.inputs[0].shape = {-1, 3};
  EXPECT_THROW(applyOverrides(signature, {{"x", std::nullopt, Shape{-1, 4}, "c"}}, {}), Error);
}

TEST(ServeVersionPolicy, SelectsVersions) {
  VersionPolicy latest;
  EXPECT_EQ(latest.select({1, 5, 3}), std::vector<int64_t>({5}));
  latest.latest = 2;
  EXPECT_EQ(latest.select({1, 5, 3}), std::vector<int64_t>({5, 3}));
  VersionPolicy all{VersionPolicy::Kind::kAll, 1, {}};
  EXPECT_EQ(all.select({1, 5, 3}), std::vector<int64_t>({5, 3, 1}));
  VersionPolicy specific{VersionPolicy::Kind::kSpecific, 1, {1, 4}};
  EXPECT_EQ(specific.select({1, 5, 3}), std::vector<int64_t>({1}));
}

TEST(ServeProtocol, KServeJsonAndBinaryInputs) {
  const Signature& signature = fuzzing::oneInput();
  KServeRequest request = parseKServeInfer(
      R"({"id":"r1","inputs":[{"name":"input","shape":[2,2],"datatype":"FP32","data":[[1,2],[3,4]]}]})",
      std::nullopt, signature);
  EXPECT_EQ(request.id, "r1");
  EXPECT_EQ(request.inputs[0].shape, Shape({2, 2}));
  EXPECT_EQ(numbers(request.inputs[0]), std::vector<double>({1, 2, 3, 4}));

  const std::string header =
      R"({"inputs":[{"name":"input","shape":[1,2],"datatype":"FP32","parameters":{"binary_data_size":8}}],"parameters":{"binary_data_output":true}})";
  const float values[] = {1.5f, -2.0f};
  std::string body = header + std::string(reinterpret_cast<const char*>(values), sizeof values);
  request = parseKServeInfer(body, header.size(), signature);
  EXPECT_EQ(numbers(request.inputs[0]), std::vector<double>({1.5, -2.0}));
  const EncodedBody encoded = encodeKServeInfer(request, "m", 3, {fp32("y", {1, 2}, {1.5, -2.0})});
  ASSERT_TRUE(encoded.headerLength);
  const Json json = Json::parse(encoded.body.substr(0, *encoded.headerLength));
  EXPECT_EQ(json["model_version"], "3");
  EXPECT_EQ(json["outputs"][0]["parameters"]["binary_data_size"], 8);
  EXPECT_EQ(encoded.body.substr(*encoded.headerLength), body.substr(header.size()));
}

TEST(ServeProtocol, KServeEncodesShortestFloats) {
  Tensor y = fp32("y", {1, 3}, {0, 0, 0});
  const float values[] = {0.1f, 1e-8f, NAN};
  std::memcpy(y.bytes.data(), values, sizeof values);
  const EncodedBody encoded = encodeKServeInfer({}, "m", 1, {y});
  EXPECT_EQ(
      encoded.body,
      R"({"model_name":"m","model_version":"1","outputs":[{"name":"y","datatype":"FP32","shape":[1,3],"data":[0.1,1e-08,null]}]})");
}

TEST(ServeProtocol, TfRowsAndColumns) {
  TfRequest rows = parseTfPredict(R"({"instances":[[1,2,3,4],[5,6,7,8]]})", fuzzing::oneInput());
  EXPECT_TRUE(rows.rows);
  EXPECT_EQ(rows.inputs[0].shape, Shape({2, 4}));
  EXPECT_EQ(encodeTfPredict(rows, {fp32("y", {2, 2}, {1, 2, 3, 4})}),
            R"({"predictions":[[1,2],[3,4]]})");
  TfRequest columns =
      parseTfPredict(R"({"inputs":{"a":[[1,2]],"b":[[3,4]]}})", fuzzing::twoInputs());
  EXPECT_FALSE(columns.rows);
  ASSERT_EQ(columns.inputs.size(), 2u);
  EXPECT_EQ(encodeTfPredict(columns, {fp32("s", {1, 2}, {4, 6}), fp32("d", {1, 2}, {-2, -2})}),
            R"({"outputs":{"s":[[4,6]],"d":[[-2,-2]]}})");
}

TEST(ServeProtocol, ShapeErrorsNameTheTensor) {
  try {
    checkInputs(fuzzing::oneInput(), {fp32("input", {2, 3}, std::vector<double>(6))}, 0);
    FAIL();
  } catch (const RequestError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_STREQ(e.what(), "input 'input': expected shape [-1, 4], given [2, 3]");
  }
  EXPECT_THROW(checkInputs(fuzzing::oneInput(), {fp32("other", {1, 4}, std::vector<double>(4))}, 0),
               RequestError);
  try {
    checkInputs(fuzzing::oneInput(),
                {makeTensor("input", DataType::kInt64, {1, 4}, std::vector<double>(4))}, 0);
    FAIL();
  } catch (const RequestError& e) {
    EXPECT_STREQ(e.what(), "input 'input': expected datatype FP32, given INT64");
  }
}

// One input and output of each type, as a classifier or a tokenizer has them.
const Signature& typedSignature() {
  return fuzzing::typedInputs();
}

TEST(ServeProtocol, KServeJsonCarriesEveryType) {
  const KServeRequest request = parseKServeInfer(R"({"inputs":[
      {"name":"ids","shape":[1,3],"datatype":"INT64","data":[1099511627776,-1,0]},
      {"name":"mask","shape":[1,3],"datatype":"BOOL","data":[true,false,true]},
      {"name":"text","shape":[2],"datatype":"BYTES","data":["café",""]},
      {"name":"half","shape":[1,2],"datatype":"FP16","data":[0.5,-1.25]},
      {"name":"small","shape":[1,2],"datatype":"UINT8","data":[0,255]}]})",
                                                 std::nullopt, typedSignature());
  const std::vector<Tensor> inputs = checkInputs(typedSignature(), request.inputs, 0);
  EXPECT_EQ(inputs[0].values<int64_t>()[0], int64_t{1} << 40);
  EXPECT_EQ(numbers(inputs[1]), std::vector<double>({1, 0, 1}));
  EXPECT_EQ(inputs[2].strings, std::vector<std::string>({"caf\xc3\xa9", ""}));
  EXPECT_EQ(numbers(inputs[3]), std::vector<double>({0.5, -1.25}));
  EXPECT_EQ(numbers(inputs[4]), std::vector<double>({0, 255}));
  // Answers keep each output's type: integers as integers, BOOL as true/false.
  const EncodedBody encoded =
      encodeKServeInfer({}, "m", 1, {inputs[0], inputs[1], inputs[2], inputs[3], inputs[4]});
  const Json json = Json::parse(encoded.body);
  EXPECT_EQ(json["outputs"][0]["datatype"], "INT64");
  EXPECT_EQ(json["outputs"][0]["data"], Json::parse("[1099511627776,-1,0]"));
  EXPECT_EQ(json["outputs"][1]["data"], Json::parse("[true,false,true]"));
  EXPECT_EQ(json["outputs"][2]["data"], Json::parse(R"(["caf\u00e9",""])"));
  EXPECT_EQ(json["outputs"][3]["data"], Json::parse("[0.5,-1.25]"));
  EXPECT_EQ(json["outputs"][4]["data"], Json::parse("[0,255]"));
}

TEST(ServeProtocol, KServeRefusesValuesOutsideTheType) {
  const auto refuse = [](const std::string& input, const std::string& message) {
    try {
      parseKServeInfer(R"({"inputs":[)" + input + "]}", std::nullopt, typedSignature());
      ADD_FAILURE() << input;
    } catch (const RequestError& e) {
      EXPECT_EQ(e.status(), 400);
      EXPECT_EQ(e.what(), message);
    }
  };
  refuse(R"({"name":"small","shape":[1,2],"datatype":"UINT8","data":[1,256]})",
         "input 'small': 256 is out of the range of UINT8");
  refuse(R"({"name":"ids","shape":[1,3],"datatype":"INT64","data":[1,2.5,3]})",
         "input 'ids': INT64 data must hold integers, found a number");
  refuse(R"({"name":"mask","shape":[1,3],"datatype":"BOOL","data":[1,0,1]})",
         "input 'mask': BOOL data must hold true or false, found a number");
  refuse(R"({"name":"text","shape":[1],"datatype":"BYTES","data":[7]})",
         "input 'text': BYTES data must hold strings, found a number");
  refuse(R"({"name":"ids","shape":[1,3],"datatype":"INT32","data":[1,2,3]})",
         "input 'ids': expected datatype INT64, given INT32");
  refuse(R"({"name":"ids","shape":[1,3],"datatype":"FLOAT","data":[1,2,3]})",
         "input 'ids': unknown datatype \"FLOAT\" (KServe v2 types: BOOL, UINT8 ... UINT64, "
         "INT8 ... INT64, FP16, FP32, FP64, BYTES)");
}

TEST(ServeProtocol, KServeBinaryBytesAreLengthPrefixed) {
  std::string binary;
  for (const std::string& element : {std::string("ab"), std::string("\0x", 2)}) {
    const auto length = static_cast<uint32_t>(element.size());
    binary.append(reinterpret_cast<const char*>(&length), 4);
    binary += element;
  }
  const std::string header = fmt::format(
      R"({{"inputs":[{{"name":"text","shape":[2],"datatype":"BYTES","parameters":{{"binary_data_size":{}}}}}],"parameters":{{"binary_data_output":true}}}})",
      binary.size());
  const KServeRequest request = parseKServeInfer(header + binary, header.size(), typedSignature());
  EXPECT_EQ(request.inputs[0].strings, std::vector<std::string>({"ab", std::string("\0x", 2)}));
  const EncodedBody encoded = encodeKServeInfer(request, "m", 1, request.inputs);
  ASSERT_TRUE(encoded.headerLength);
  EXPECT_EQ(encoded.body.substr(*encoded.headerLength), binary);
  // A length that runs past the data is refused, not read beyond it.
  const std::string truncated = binary.substr(0, binary.size() - 1);
  const std::string badHeader = fmt::format(
      R"({{"inputs":[{{"name":"text","shape":[2],"datatype":"BYTES","parameters":{{"binary_data_size":{}}}}}]}})",
      truncated.size());
  EXPECT_THROW(parseKServeInfer(badHeader + truncated, badHeader.size(), typedSignature()),
               RequestError);
}

TEST(ServeProtocol, TfTakesTypesFromTheSignature) {
  const Signature signature{{{"ids", "INT64", {-1, 2}}, {"text", "BYTES", {-1}}},
                            {{"label", "INT64", {-1}}}};
  const TfRequest request = parseTfPredict(
      R"({"instances":[{"ids":[1,2],"text":"a"},{"ids":[3,4],"text":"b"}]})", signature);
  ASSERT_EQ(request.inputs.size(), 2u);
  EXPECT_EQ(request.inputs[0].type, DataType::kInt64);
  EXPECT_EQ(request.inputs[0].values<int64_t>()[3], 4);
  EXPECT_EQ(request.inputs[1].strings, std::vector<std::string>({"a", "b"}));
  EXPECT_EQ(encodeTfPredict(request, {request.inputs[1], request.inputs[0]}),
            R"({"predictions":[{"text":"a","ids":[1,2]},{"text":"b","ids":[3,4]}]})");
}

// Every file of the fuzz corpus goes through every parser without a crash;
// the valid ones are accepted.
TEST(ServeProtocol, MalformedRequestCorpus) {
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(SKIFF_SERVE_CORPUS)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    const std::string name = entry.path().filename().string();
    SCOPED_TRACE(name);
    const int accepted = fuzzing::exerciseParsers(bytes.str());
    if (name.starts_with("valid") || name == "binary.bin") {
      EXPECT_GT(accepted, 0);
    } else if (!name.starts_with("onnx")) {
      EXPECT_EQ(accepted, 0);
    }
    ++files;
  }
  EXPECT_GE(files, 20);
}

}  // namespace
}  // namespace skiff::serve
