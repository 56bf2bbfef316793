#pragma once

// Request parsing and response encoding of the two inference APIs. Pure
// functions over bytes: every malformed input becomes a RequestError (400),
// never a crash, which the fuzz target in fuzz/ checks.

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "serve/model_version.hpp"
#include "serve/tensor.hpp"

namespace skiff::serve {

// KServe v2: {"id", "inputs": [{name, shape, datatype, data | binary}],
// "outputs": [{name, parameters: {binary_data}}], "parameters": {binary_data_output}}.
struct KServeRequest {
  std::string id;
  std::vector<Tensor> inputs;
  std::vector<std::string> outputs;  // empty: all
  std::set<std::string> binaryOutputs;
  bool allOutputsBinary = false;
};

// `headerLength`: the Inference-Header-Content-Length header (binary tensor
// extension): the JSON is that long and the binary tensors follow it.
// `signature` gives the data type each input must have.
KServeRequest parseKServeInfer(std::string_view body, std::optional<size_t> headerLength,
                               const Signature& signature);

struct EncodedBody {
  std::string body;
  std::optional<size_t> headerLength;  // set when binary outputs follow the JSON
};

EncodedBody encodeKServeInfer(const KServeRequest& request, const std::string& model,
                              int64_t version, const std::vector<Tensor>& outputs);

// TF Serving REST predict: {"instances": [...]} (rows) or {"inputs": ...} (columns).
struct TfRequest {
  bool rows = false;
  std::vector<Tensor> inputs;
};

TfRequest parseTfPredict(std::string_view body, const Signature& signature);
// {"predictions": [...]} for rows, {"outputs": ...} for columns.
std::string encodeTfPredict(const TfRequest& request, const std::vector<Tensor>& outputs);

// A JSON string literal of `text`, quoted and escaped.
std::string jsonString(std::string_view text);

}  // namespace skiff::serve
