#include "serve/protocol.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

namespace skiff::serve {
namespace {

using Json = nlohmann::json;

constexpr int kMaxRank = 32;  // bounds the recursion over nested lists

[[noreturn]] void bad(const std::string& message) {
  throw RequestError(400, message);
}

// The deepest nesting of lists and objects in JSON text, found before parsing:
// copies and walks of a parsed document recurse, so depth must be bounded first.
int nestingDepth(std::string_view text) {
  int depth = 0;
  int deepest = 0;
  bool inString = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (inString) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        inString = false;
      }
    } else if (c == '"') {
      inString = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

Json parseJson(std::string_view text) {
  if (nestingDepth(text) > kMaxRank + 4) {
    bad(fmt::format("the request nests lists deeper than {} levels", kMaxRank + 4));
  }
  Json json = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) bad("the request body is not valid JSON");
  if (!json.is_object()) bad("the request body must be a JSON object");
  return json;
}

const TensorSpec* findSpec(const std::vector<TensorSpec>& specs, const std::string& name) {
  for (const TensorSpec& spec : specs) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

// Appends the numbers of a (possibly nested) list to `out`.
void flatten(const Json& value, const std::string& tensor, std::vector<float>& out, int depth) {
  if (depth > kMaxRank) bad(fmt::format("input '{}': data nests deeper than {}", tensor, kMaxRank));
  if (value.is_array()) {
    for (const Json& item : value) flatten(item, tensor, out, depth + 1);
  } else if (value.is_number()) {
    out.push_back(value.get<float>());
  } else {
    bad(fmt::format("input '{}': data must hold numbers, found {}", tensor, value.type_name()));
  }
}

// The shape of a nested list; ragged lists are refused.
void inferShape(const Json& value, const std::string& tensor, Shape& shape, size_t depth) {
  if (depth > kMaxRank) bad(fmt::format("input '{}': data nests deeper than {}", tensor, kMaxRank));
  if (!value.is_array()) return;
  shape.push_back(static_cast<int64_t>(value.size()));
  if (!value.empty()) inferShape(value.front(), tensor, shape, depth + 1);
}

Tensor nestedTensor(const Json& value, const std::string& name) {
  Tensor tensor{name, {}, {}};
  inferShape(value, name, tensor.shape, 0);
  flatten(value, name, tensor.data, 0);
  const int64_t count = elementCount(tensor.shape);
  if (count < 0 || static_cast<size_t>(count) != tensor.data.size()) {
    bad(fmt::format("input '{}': ragged nested lists (every row must have the same shape)", name));
  }
  return tensor;
}

Shape readShape(const Json& value, const std::string& name) {
  if (!value.is_array()) bad(fmt::format("input '{}': shape must be a list of sizes", name));
  if (value.size() > kMaxRank)
    bad(fmt::format("input '{}': more than {} dimensions", name, kMaxRank));
  Shape shape;
  for (const Json& dimension : value) {
    if (!dimension.is_number_integer() || dimension.get<int64_t>() < 0) {
      bad(fmt::format("input '{}': shape must hold sizes >= 0", name));
    }
    shape.push_back(dimension.get<int64_t>());
  }
  if (elementCount(shape) < 0)
    bad(fmt::format("input '{}': shape {} is too large", name, formatShape(shape)));
  return shape;
}

bool flagSet(const Json& parameters, const char* name) {
  if (!parameters.is_object()) return false;
  auto flag = parameters.find(name);
  return flag != parameters.end() && flag->is_boolean() && flag->get<bool>();
}

// Writes a float as JSON: shortest round-trip form; null for NaN and infinities.
void appendNumber(std::string& out, float value) {
  if (std::isfinite(value)) {
    fmt::format_to(std::back_inserter(out), "{}", value);
  } else {
    out += "null";
  }
}

// Writes data[offset ...] as nested lists of `shape` from dimension `d` on.
void appendNested(std::string& out, const std::vector<float>& data, const Shape& shape, size_t d,
                  size_t& offset) {
  if (d == shape.size()) {
    appendNumber(out, offset < data.size() ? data[offset] : 0.0f);
    ++offset;
    return;
  }
  out += '[';
  for (int64_t i = 0; i < shape[d]; ++i) {
    if (i) out += ',';
    appendNested(out, data, shape, d + 1, offset);
  }
  out += ']';
}

void appendTensor(std::string& out, const Tensor& tensor) {
  size_t offset = 0;
  appendNested(out, tensor.data, tensor.shape, 0, offset);
}

// Row `row` of a tensor whose first dimension is the batch.
void appendRow(std::string& out, const Tensor& tensor, int64_t row) {
  const Shape rowShape(tensor.shape.begin() + 1, tensor.shape.end());
  size_t offset = static_cast<size_t>(row * std::max<int64_t>(elementCount(rowShape), 0));
  appendNested(out, tensor.data, rowShape, 0, offset);
}

}  // namespace

std::string jsonString(std::string_view text) {
  return Json(std::string(text)).dump(-1, ' ', false, Json::error_handler_t::replace);
}

KServeRequest parseKServeInfer(std::string_view body, std::optional<size_t> headerLength,
                               const Signature& signature) {
  if (headerLength && *headerLength > body.size()) {
    bad(fmt::format("Inference-Header-Content-Length {} is larger than the body ({} bytes)",
                    *headerLength, body.size()));
  }
  std::string_view binary = headerLength ? body.substr(*headerLength) : std::string_view();
  const Json json = parseJson(headerLength ? body.substr(0, *headerLength) : body);
  KServeRequest request;
  if (auto id = json.find("id"); id != json.end() && id->is_string()) request.id = *id;
  request.allOutputsBinary = flagSet(json.value("parameters", Json()), "binary_data_output");
  auto inputs = json.find("inputs");
  if (inputs == json.end() || !inputs->is_array()) bad("the request needs an \"inputs\" list");
  for (const Json& input : *inputs) {
    if (!input.is_object()) bad("each input must be an object with name, shape, datatype, data");
    auto name = input.find("name");
    if (name == input.end() || !name->is_string()) bad("an input has no \"name\"");
    Tensor tensor{name->get<std::string>(), {}, {}};
    auto shape = input.find("shape");
    if (shape == input.end()) bad(fmt::format("input '{}' has no \"shape\"", tensor.name));
    tensor.shape = readShape(*shape, tensor.name);
    auto datatype = input.find("datatype");
    if (datatype == input.end() || !datatype->is_string()) {
      bad(fmt::format("input '{}' has no \"datatype\"", tensor.name));
    }
    const TensorSpec* spec = findSpec(signature.inputs, tensor.name);
    if (spec && spec->datatype != datatype->get<std::string>()) {
      bad(fmt::format("input '{}': expected datatype {}, given {}", tensor.name, spec->datatype,
                      datatype->get<std::string>()));
    }
    const auto count = static_cast<size_t>(elementCount(tensor.shape));
    const Json parameters = input.value("parameters", Json());
    if (parameters.is_object() && parameters.contains("binary_data_size")) {
      const Json& size = parameters["binary_data_size"];
      if (!size.is_number_unsigned() || size.get<uint64_t>() > binary.size()) {
        bad(fmt::format("input '{}': binary_data_size runs past the end of the body", tensor.name));
      }
      if (size.get<uint64_t>() != count * sizeof(float)) {
        bad(fmt::format("input '{}': binary_data_size is {} bytes; shape {} of {} needs {}",
                        tensor.name, size.get<uint64_t>(), formatShape(tensor.shape),
                        datatype->get<std::string>(), count * sizeof(float)));
      }
      tensor.data.resize(count);
      std::memcpy(tensor.data.data(), binary.data(), count * sizeof(float));
      binary.remove_prefix(count * sizeof(float));
    } else {
      auto data = input.find("data");
      if (data == input.end()) bad(fmt::format("input '{}' has no \"data\"", tensor.name));
      tensor.data.reserve(std::min(count, body.size()));
      flatten(*data, tensor.name, tensor.data, 0);
    }
    request.inputs.push_back(std::move(tensor));
  }
  if (auto outputs = json.find("outputs"); outputs != json.end()) {
    if (!outputs->is_array()) bad("\"outputs\" must be a list of {\"name\": ...}");
    for (const Json& output : *outputs) {
      if (!output.is_object() || !output.contains("name") || !output["name"].is_string()) {
        bad("each requested output needs a \"name\"");
      }
      const std::string name = output["name"];
      request.outputs.push_back(name);
      if (flagSet(output.value("parameters", Json()), "binary_data")) {
        request.binaryOutputs.insert(name);
      }
    }
  }
  return request;
}

EncodedBody encodeKServeInfer(const KServeRequest& request, const std::string& model,
                              int64_t version, const std::vector<Tensor>& outputs) {
  EncodedBody encoded;
  std::string& out = encoded.body;
  std::string binary;
  out += "{\"model_name\":" + jsonString(model) + ",\"model_version\":\"" +
         std::to_string(version) + "\"";
  if (!request.id.empty()) out += ",\"id\":" + jsonString(request.id);
  out += ",\"outputs\":[";
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& tensor = outputs[i];
    if (i) out += ',';
    out += "{\"name\":" + jsonString(tensor.name) + ",\"datatype\":\"FP32\",\"shape\":[";
    for (size_t d = 0; d < tensor.shape.size(); ++d) {
      out += (d ? "," : "") + std::to_string(tensor.shape[d]);
    }
    out += "]";
    if (request.allOutputsBinary || request.binaryOutputs.count(tensor.name)) {
      const size_t bytes = tensor.data.size() * sizeof(float);
      out += fmt::format(",\"parameters\":{{\"binary_data_size\":{}}}}}", bytes);
      binary.append(reinterpret_cast<const char*>(tensor.data.data()), bytes);
      continue;
    }
    out += ",\"data\":[";
    for (size_t v = 0; v < tensor.data.size(); ++v) {
      if (v) out += ',';
      appendNumber(out, tensor.data[v]);
    }
    out += "]}";
  }
  out += "]}";
  if (request.allOutputsBinary || !request.binaryOutputs.empty()) {
    encoded.headerLength = out.size();
    out += binary;
  }
  return encoded;
}

TfRequest parseTfPredict(std::string_view body, const Signature& signature) {
  const Json json = parseJson(body);
  TfRequest request;
  auto instances = json.find("instances");
  auto inputs = json.find("inputs");
  if ((instances == json.end()) == (inputs == json.end())) {
    bad("the request needs either \"instances\" (rows) or \"inputs\" (columns)");
  }
  const bool single = signature.inputs.size() == 1;
  if (instances != json.end()) {
    request.rows = true;
    if (!instances->is_array() || instances->empty()) bad("\"instances\" must be a non-empty list");
    // Rows of one input are its values; rows of several are {input: value} objects.
    for (const TensorSpec& spec : signature.inputs) {
      Json column = Json::array();
      for (const Json& row : *instances) {
        if (row.is_object()) {
          auto value = row.find(spec.name);
          if (value == row.end()) bad(fmt::format("an instance lacks input '{}'", spec.name));
          column.push_back(*value);
        } else if (single) {
          column.push_back(row);
        } else {
          bad(fmt::format("the model takes {} inputs: each instance must be an object naming them",
                          signature.inputs.size()));
        }
      }
      request.inputs.push_back(nestedTensor(column, spec.name));
    }
    return request;
  }
  if (inputs->is_object()) {
    for (const auto& [name, value] : inputs->items())
      request.inputs.push_back(nestedTensor(value, name));
  } else if (single) {
    request.inputs.push_back(nestedTensor(*inputs, signature.inputs.front().name));
  } else {
    bad(fmt::format("the model takes {} inputs: \"inputs\" must be an object naming them",
                    signature.inputs.size()));
  }
  return request;
}

std::string encodeTfPredict(const TfRequest& request, const std::vector<Tensor>& outputs) {
  std::string out;
  if (!request.rows) {
    out = "{\"outputs\":";
    if (outputs.size() == 1) {
      appendTensor(out, outputs.front());
    } else {
      out += '{';
      for (size_t i = 0; i < outputs.size(); ++i) {
        out += (i ? "," : "") + jsonString(outputs[i].name) + ':';
        appendTensor(out, outputs[i]);
      }
      out += '}';
    }
    return out + "}";
  }
  const int64_t rows =
      outputs.empty() || outputs.front().shape.empty() ? 0 : outputs.front().shape[0];
  out = "{\"predictions\":[";
  for (int64_t row = 0; row < rows; ++row) {
    if (row) out += ',';
    if (outputs.size() == 1) {
      appendRow(out, outputs.front(), row);
      continue;
    }
    out += '{';
    for (size_t i = 0; i < outputs.size(); ++i) {
      out += (i ? "," : "") + jsonString(outputs[i].name) + ':';
      if (outputs[i].shape.empty() || outputs[i].shape[0] != rows) {
        out += "null";  // not batched like the first output
      } else {
        appendRow(out, outputs[i], row);
      }
    }
    out += '}';
  }
  return out + "]}";
}

}  // namespace skiff::serve
