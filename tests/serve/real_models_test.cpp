// The models people bring, served as they bring them: torchvision CNNs, a
// transformer encoder, recurrent nets, LayerNorm/GELU MLPs, an int64-id
// text model and scikit-learn classifiers as ai.onnx.ml graphs, exported by
// make_real_models.py with the framework's own outputs as the reference.
// Each goes through a store (file:// and Azurite), ONNX Runtime, and both
// APIs; a model of every other tensor type round-trips through KServe JSON,
// its binary extension and TF Serving.

#include <cstring>

#include "harness/services.hpp"
#include "serve_fixture.hpp"

namespace skiff::serve::testing {
namespace {

const std::filesystem::path& realModels() {
  static const std::filesystem::path dir = generatedModels(SKIFF_MAKE_REAL_MODELS);
  return dir;
}

Json realReference(const std::string& name) {
  return Json::parse(readFile(realModels() / (name + ".json")));
}

const std::vector<std::string> kModels = {
    "resnet18", "mobilenet_v2",      "transformer",         "lstm",
    "gru",      "layernorm_gelu_14", "layernorm_gelu_17",   "conv1d",
    "textcnn",  "random_forest",     "logistic_regression", "cnn_dynamic",
    "types"};

// Compares an answer's tensor with the framework's: floats within a relative
// 1e-4 (another engine sums in another order), everything else exactly.
void expectTensor(const Json& actual, const Json& expected, const std::string& where) {
  SCOPED_TRACE(where);
  ASSERT_EQ(actual.size(), expected["data"].size()) << actual.dump().substr(0, 300);
  const std::string type = expected["datatype"];
  if (type != "FP32" && type != "FP64" && type != "FP16") {
    EXPECT_EQ(actual, expected["data"]);
    return;
  }
  const double tolerance = type == "FP16" ? 1e-3 : 1e-4;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double want = expected["data"][i].get<double>();
    ASSERT_TRUE(actual[i].is_number()) << "at " << i << ": " << actual[i];
    EXPECT_NEAR(actual[i].get<double>(), want, tolerance * std::max(1.0, std::abs(want)))
        << "at " << i;
  }
}

// The whole tensor as nested lists (TF Serving's columnar "inputs").
Json nested(const Json& tensor) {
  std::function<Json(size_t, size_t&)> build = [&](size_t d, size_t& offset) -> Json {
    if (d == tensor["shape"].size()) return tensor["data"][offset++];
    Json list = Json::array();
    for (int64_t i = 0; i < tensor["shape"][d].get<int64_t>(); ++i) {
      list.push_back(build(d + 1, offset));
    }
    return list;
  };
  size_t offset = 0;
  return build(0, offset);
}

class RealModels : public ::testing::TestWithParam<std::string> {};

TEST_P(RealModels, ServedFromTheStoreTheyMatchTheFrameworkThroughBothApis) {
  ServedRepository served(GetParam());
  for (const std::string& model : kModels)
    served.putModelFile(model, 1, realModels() / (model + ".onnx"));
  ASSERT_TRUE(served.poll());
  for (const std::string& model : kModels) {
    SCOPED_TRACE(model);
    const http::Response ready = served.get(fmt::format("/v2/models/{}/versions/1/ready", model));
    ASSERT_EQ(ready.status, 200) << served.get("/v2/models/" + model).body;
    const Json expected = realReference(model);

    const Json kserve = served.postJson(fmt::format("/v2/models/{}/infer", model),
                                        kserveRequest(expected["inputs"]));
    ASSERT_EQ(kserve["outputs"].size(), expected["outputs"].size()) << kserve.dump();
    for (const Json& output : kserve["outputs"]) {
      const Json& want = expected["outputs"][output["name"].get<std::string>()];
      EXPECT_EQ(output["datatype"], want["datatype"]);
      EXPECT_EQ(output["shape"], want["shape"]);
      expectTensor(output["data"], want, "KServe v2 " + output["name"].get<std::string>());
    }

    Json columns = Json::object();
    for (const auto& [name, tensor] : expected["inputs"].items()) columns[name] = nested(tensor);
    const Json tf =
        served.postJson(fmt::format("/v1/models/{}:predict", model), {{"inputs", columns}});
    for (const auto& [name, want] : expected["outputs"].items()) {
      const Json& answer = expected["outputs"].size() == 1 ? tf["outputs"] : tf["outputs"][name];
      expectTensor(flat(answer), want, "TF Serving " + name);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Stores, RealModels, ::testing::Values("file", "azure"));

// Reads one output of a binary answer: its JSON header says where it lies.
std::string binaryOutput(const http::Response& response, const Json& header,
                         const std::string& name) {
  size_t offset = std::stoul(response.headers.at("inference-header-content-length"));
  for (const Json& output : header["outputs"]) {
    const size_t size = output["parameters"]["binary_data_size"];
    if (output["name"] == name) return response.body.substr(offset, size);
    offset += size;
  }
  return {};
}

TEST(RealModelTypes, EveryTypeRoundTripsThroughTheBinaryExtension) {
  ServedRepository served;
  served.putModelFile("types", 1, realModels() / "types.onnx");
  ASSERT_TRUE(served.poll());
  const Json expected = realReference("types");
  // Each input as raw little-endian bytes (BYTES: a 4-byte length before each element).
  Json header = {{"inputs", Json::array()}, {"parameters", {{"binary_data_output", true}}}};
  std::string binary;
  for (const auto& [name, tensor] : expected["inputs"].items()) {
    const std::string type = tensor["datatype"];
    const size_t before = binary.size();
    for (const Json& value : tensor["data"]) {
      const auto put = [&](auto typed) {
        binary.append(reinterpret_cast<const char*>(&typed), sizeof typed);
      };
      if (type == "BYTES") {
        const std::string text = value;
        put(static_cast<uint32_t>(text.size()));
        binary += text;
      } else if (type == "BOOL")
        put(static_cast<uint8_t>(value.get<bool>()));
      else if (type == "FP64")
        put(value.get<double>());
      else if (type == "FP16")
        put(static_cast<_Float16>(value.get<float>()));
      else if (type == "INT8")
        put(value.get<int8_t>());
      else if (type == "INT16")
        put(value.get<int16_t>());
      else if (type == "INT32")
        put(value.get<int32_t>());
      else if (type == "INT64")
        put(value.get<int64_t>());
      else if (type == "UINT8")
        put(value.get<uint8_t>());
      else if (type == "UINT16")
        put(value.get<uint16_t>());
      else if (type == "UINT32")
        put(value.get<uint32_t>());
      else if (type == "UINT64")
        put(value.get<uint64_t>());
      else
        FAIL() << "unexpected type " << type;
    }
    header["inputs"].push_back({{"name", name},
                                {"shape", tensor["shape"]},
                                {"datatype", type},
                                {"parameters", {{"binary_data_size", binary.size() - before}}}});
  }
  const std::string json = header.dump();
  const http::Response response =
      served.post("/v2/models/types/infer", json + binary,
                  {{"Inference-Header-Content-Length", std::to_string(json.size())}});
  ASSERT_EQ(response.status, 200) << response.body.substr(0, 400);
  const size_t headerLength = std::stoul(response.headers.at("inference-header-content-length"));
  const Json answer = Json::parse(response.body.substr(0, headerLength));
  ASSERT_EQ(answer["outputs"].size(), 12u);
  // Inputs are x + 1 (Not for BOOL, the same strings for BYTES): the answer's
  // bytes are the reference's, encoded as the request's were.
  for (const Json& output : answer["outputs"]) {
    const std::string name = output["name"];
    SCOPED_TRACE(name);
    const Json& want = expected["outputs"][name];
    EXPECT_EQ(output["datatype"], want["datatype"]);
    const std::string bytes = binaryOutput(response, answer, name);
    const std::string type = want["datatype"];
    size_t offset = 0;
    for (const Json& value : want["data"]) {
      const auto take = [&](auto typed) {
        std::memcpy(&typed, bytes.data() + offset, sizeof typed);
        offset += sizeof typed;
        return typed;
      };
      ASSERT_LE(offset, bytes.size());
      if (type == "BYTES") {
        const uint32_t length = take(uint32_t{});
        EXPECT_EQ(bytes.substr(offset, length), value.get<std::string>());
        offset += length;
      } else if (type == "BOOL")
        EXPECT_EQ(take(uint8_t{}) != 0, value.get<bool>());
      else if (type == "FP16")
        EXPECT_EQ(static_cast<float>(take(_Float16{})), value.get<float>());
      else if (type == "FP64")
        EXPECT_EQ(take(double{}), value.get<double>());
      else if (type.starts_with("UINT")) {
        const uint64_t got = type == "UINT8"    ? take(uint8_t{})
                             : type == "UINT16" ? take(uint16_t{})
                             : type == "UINT32" ? take(uint32_t{})
                                                : take(uint64_t{});
        EXPECT_EQ(got, value.get<uint64_t>());
      } else {
        const int64_t got = type == "INT8"    ? take(int8_t{})
                            : type == "INT16" ? take(int16_t{})
                            : type == "INT32" ? take(int32_t{})
                                              : take(int64_t{});
        EXPECT_EQ(got, value.get<int64_t>());
      }
    }
    EXPECT_EQ(offset, bytes.size());
  }
}

TEST(RealModelErrors, ASequenceOutputSaysHowToExportWithoutZipMap) {
  ServedRepository served;
  served.putModelFile("zipmap", 1, realModels() / "zipmap.onnx");
  ASSERT_TRUE(served.poll());
  const http::Response response = served.get("/v2/models/zipmap/versions/1");
  EXPECT_EQ(response.status, 503);
  EXPECT_NE(response.body.find("output 'probabilities' is a sequence, not a tensor"),
            std::string::npos)
      << response.body;
  EXPECT_NE(response.body.find("'zipmap': False"), std::string::npos) << response.body;
}

TEST(RealModelErrors, AnIdOutsideTheEmbeddingIsTheRequestsFault) {
  ServedRepository served;
  served.putModelFile("textcnn", 1, realModels() / "textcnn.onnx");
  ASSERT_TRUE(served.poll());
  Json request = kserveRequest(realReference("textcnn")["inputs"]);
  request["inputs"][0]["data"][0] = 1000;  // the vocabulary has 100 ids
  const Json answer = served.postJson("/v2/models/textcnn/infer", request, 400);
  EXPECT_NE(answer["error"].get<std::string>().find("the model cannot run on this input"),
            std::string::npos)
      << answer.dump();
  // A float where the model takes int64 ids: the datatype is named.
  request = kserveRequest(realReference("textcnn")["inputs"]);
  request["inputs"][0]["datatype"] = "FP32";
  EXPECT_EQ(served.postJson("/v2/models/textcnn/infer", request, 400)["error"],
            "input 'ids': expected datatype INT64, given FP32");
}

TEST(OnnxRuntimeLibrary, AMissingLibrarySaysWhereSkiffLookedAndHowToInstallIt) {
  skiff::testing::TempDir repository("skiff-serve-repo");
  CommandResult result =
      skiff::testing::runSkiff({"serve", "--model-repository", repository.path().string(),
                                "--onnxruntime-library", "/nonexistent/libonnxruntime.so.1"});
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_NE(result.err.find("cannot load ONNX Runtime"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("/nonexistent/libonnxruntime.so.1: no such file"), std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("scripts/setup"), std::string::npos) << result.err;
  // A library that is not ONNX Runtime is named as such.
  result = skiff::testing::runSkiff({"serve", "--model-repository", repository.path().string(),
                                     "--onnxruntime-library", "libz.so.1"});
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_NE(result.err.find("libz.so.1: it has no OrtGetApiBase: not an ONNX Runtime library"),
            std::string::npos)
      << result.err;
}

}  // namespace
}  // namespace skiff::serve::testing
