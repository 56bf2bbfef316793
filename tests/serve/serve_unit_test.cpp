// Parts of skiff serve that need no model or server: config.yaml, version
// policies, the request parsers and encoders, and the malformed-request corpus.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "../../fuzz/serve_request_parsers.hpp"
#include "common/error.hpp"
#include "serve/protocol.hpp"
#include "serve/repository.hpp"

namespace skiff::serve {
namespace {

using Json = nlohmann::json;

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
  EXPECT_EQ(request.inputs[0].data, std::vector<float>({1, 2, 3, 4}));

  const std::string header =
      R"({"inputs":[{"name":"input","shape":[1,2],"datatype":"FP32","parameters":{"binary_data_size":8}}],"parameters":{"binary_data_output":true}})";
  const float values[] = {1.5f, -2.0f};
  std::string body = header + std::string(reinterpret_cast<const char*>(values), sizeof values);
  request = parseKServeInfer(body, header.size(), signature);
  EXPECT_EQ(request.inputs[0].data, std::vector<float>({1.5f, -2.0f}));
  const EncodedBody encoded = encodeKServeInfer(request, "m", 3, {{"y", {1, 2}, {1.5f, -2.0f}}});
  ASSERT_TRUE(encoded.headerLength);
  const Json json = Json::parse(encoded.body.substr(0, *encoded.headerLength));
  EXPECT_EQ(json["model_version"], "3");
  EXPECT_EQ(json["outputs"][0]["parameters"]["binary_data_size"], 8);
  EXPECT_EQ(encoded.body.substr(*encoded.headerLength), body.substr(header.size()));
}

TEST(ServeProtocol, KServeEncodesShortestFloats) {
  const EncodedBody encoded = encodeKServeInfer({}, "m", 1, {{"y", {1, 3}, {0.1f, 1e-8f, NAN}}});
  EXPECT_EQ(
      encoded.body,
      R"({"model_name":"m","model_version":"1","outputs":[{"name":"y","datatype":"FP32","shape":[1,3],"data":[0.1,1e-08,null]}]})");
}

TEST(ServeProtocol, TfRowsAndColumns) {
  TfRequest rows = parseTfPredict(R"({"instances":[[1,2,3,4],[5,6,7,8]]})", fuzzing::oneInput());
  EXPECT_TRUE(rows.rows);
  EXPECT_EQ(rows.inputs[0].shape, Shape({2, 4}));
  EXPECT_EQ(encodeTfPredict(rows, {{"y", {2, 2}, {1, 2, 3, 4}}}),
            R"({"predictions":[[1,2],[3,4]]})");
  TfRequest columns =
      parseTfPredict(R"({"inputs":{"a":[[1,2]],"b":[[3,4]]}})", fuzzing::twoInputs());
  EXPECT_FALSE(columns.rows);
  ASSERT_EQ(columns.inputs.size(), 2u);
  EXPECT_EQ(encodeTfPredict(columns, {{"s", {1, 2}, {4, 6}}, {"d", {1, 2}, {-2, -2}}}),
            R"({"outputs":{"s":[[4,6]],"d":[[-2,-2]]}})");
}

TEST(ServeProtocol, ShapeErrorsNameTheTensor) {
  try {
    checkInputs(fuzzing::oneInput(), {{"input", {2, 3}, std::vector<float>(6)}}, 0);
    FAIL();
  } catch (const RequestError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_STREQ(e.what(), "input 'input': expected shape [-1, 4], given [2, 3]");
  }
  EXPECT_THROW(checkInputs(fuzzing::oneInput(), {{"other", {1, 4}, std::vector<float>(4)}}, 0),
               RequestError);
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
