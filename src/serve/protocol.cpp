#include "serve/protocol.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <simdjson.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <span>
#include <type_traits>

namespace skiff::serve {
namespace {

// Requests are parsed with simdjson (the hot path: tensors are long lists of
// numbers); nlohmann-json only escapes names in answers.
using Element = simdjson::dom::element;
using Object = simdjson::dom::object;
using Array = simdjson::dom::array;

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

// Parses a request body into an object; the parser is per thread and reused.
Object parseObject(std::string_view text) {
  if (nestingDepth(text) > kMaxRank + 4) {
    bad(fmt::format("the request nests lists deeper than {} levels", kMaxRank + 4));
  }
  thread_local simdjson::dom::parser parser;
  Element document;
  if (parser.parse(text.data(), text.size()).get(document))
    bad("the request body is not valid JSON");
  Object object;
  if (document.get_object().get(object)) bad("the request body must be a JSON object");
  return object;
}

// The field `name` of an object, or nothing.
std::optional<Element> field(const Object& object, std::string_view name) {
  Element value;
  if (object.at_key(name).get(value)) return std::nullopt;
  return value;
}

std::optional<std::string> stringField(const Object& object, std::string_view name) {
  std::string_view text;
  const auto value = field(object, name);
  if (!value || value->get_string().get(text)) return std::nullopt;
  return std::string(text);
}

const TensorSpec* findSpec(const std::vector<TensorSpec>& specs, const std::string& name) {
  for (const TensorSpec& spec : specs) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

// What a JSON leaf of each data type must be, for messages.
const char* leafKind(DataType type) {
  if (type == DataType::kBytes) return "strings";
  if (type == DataType::kBool) return "true or false";
  return isFloatingPoint(type) ? "numbers" : "integers";
}

[[noreturn]] void badLeaf(const Element& value, const std::string& tensor, DataType type) {
  bad(fmt::format("input '{}': {} data must hold {}, found {}", tensor, dataTypeName(type),
                  leafKind(type),
                  value.is_string()   ? "a string"
                  : value.is_object() ? "an object"
                  : value.is_bool()   ? "a boolean"
                  : value.is_null()   ? "null"
                                      : "a number"));
}

// The elements of one tensor as they are read, before they become bytes.
// BOOL is kept as uint8_t (std::vector<bool> packs bits).
template <typename T>
using Storage = std::conditional_t<std::is_same_v<T, bool>, uint8_t, T>;

template <typename T>
Storage<T> readLeaf(const Element& value, const std::string& tensor, DataType type) {
  if constexpr (std::is_same_v<T, bool>) {
    bool flag = false;
    if (value.get_bool().get(flag)) badLeaf(value, tensor, type);
    return flag ? 1 : 0;
  } else if constexpr (std::is_same_v<T, std::string>) {
    std::string_view text;
    if (value.get_string().get(text)) badLeaf(value, tensor, type);
    return std::string(text);
  } else if constexpr (std::is_floating_point_v<T> || std::is_same_v<T, _Float16>) {
    double number = 0;
    if (value.get_double().get(number)) badLeaf(value, tensor, type);
    return static_cast<T>(number);
  } else if constexpr (std::is_signed_v<T>) {
    int64_t number = 0;
    if (value.get_int64().get(number)) badLeaf(value, tensor, type);
    if (number < std::numeric_limits<T>::min() || number > std::numeric_limits<T>::max()) {
      bad(fmt::format("input '{}': {} is out of the range of {}", tensor, number,
                      dataTypeName(type)));
    }
    return static_cast<T>(number);
  } else {
    uint64_t number = 0;
    if (value.get_uint64().get(number)) badLeaf(value, tensor, type);
    if (number > std::numeric_limits<T>::max()) {
      bad(fmt::format("input '{}': {} is out of the range of {}", tensor, number,
                      dataTypeName(type)));
    }
    return static_cast<T>(number);
  }
}

// Appends the leaves of a (possibly nested) list to `out`.
template <typename T>
void flatten(const Element& value, const std::string& tensor, DataType type,
             std::vector<Storage<T>>& out, int depth) {
  if (depth > kMaxRank) bad(fmt::format("input '{}': data nests deeper than {}", tensor, kMaxRank));
  if (value.is_array()) {
    for (const Element item : Array(value)) flatten<T>(item, tensor, type, out, depth + 1);
    return;
  }
  out.push_back(readLeaf<T>(value, tensor, type));
}

// Reads the leaves of every element of `values` into `tensor` (of its type).
void readData(std::span<const Element> values, Tensor& tensor, size_t expected) {
  if (tensor.type == DataType::kBytes) {
    tensor.strings.reserve(expected);
    for (const Element& value : values) {
      flatten<std::string>(value, tensor.name, tensor.type, tensor.strings, 0);
    }
    return;
  }
  visitElementType(tensor.type, [&](auto zero) {
    using T = decltype(zero);
    thread_local std::vector<Storage<T>> leaves;
    leaves.clear();
    leaves.reserve(expected);
    for (const Element& value : values) flatten<T>(value, tensor.name, tensor.type, leaves, 0);
    tensor.bytes.resize(leaves.size() * sizeof(T));
    std::memcpy(tensor.bytes.data(), leaves.data(), tensor.bytes.size());
  });
}

// The shape of a nested list, following first elements.
void inferShape(const Element& value, const std::string& tensor, Shape& shape, size_t depth) {
  if (depth > kMaxRank) bad(fmt::format("input '{}': data nests deeper than {}", tensor, kMaxRank));
  if (!value.is_array()) return;
  const Array array(value);
  shape.push_back(static_cast<int64_t>(array.size()));
  if (array.size() > 0) inferShape(array.at(0).value_unsafe(), tensor, shape, depth + 1);
}

// A tensor from rows of equal shape (TF Serving "instances", or the rows of a list).
Tensor tensorFromRows(const std::vector<Element>& rows, const std::string& name, DataType type) {
  Tensor tensor{name, type, {static_cast<int64_t>(rows.size())}, {}, {}};
  Shape rowShape;
  if (!rows.empty()) inferShape(rows.front(), name, rowShape, 0);
  tensor.shape.insert(tensor.shape.end(), rowShape.begin(), rowShape.end());
  const int64_t count = elementCount(tensor.shape);
  if (count < 0)
    bad(fmt::format("input '{}': shape {} is too large", name, formatShape(tensor.shape)));
  for (const Element& row : rows) {
    Shape shape;
    inferShape(row, name, shape, 0);
    if (shape != rowShape) {
      bad(fmt::format("input '{}': ragged nested lists (every row must have the same shape)",
                      name));
    }
  }
  readData(rows, tensor, static_cast<size_t>(count));
  if (static_cast<size_t>(count) != tensor.size()) {
    bad(fmt::format("input '{}': ragged nested lists (every row must have the same shape)", name));
  }
  return tensor;
}

Tensor nestedTensor(const Element& value, const std::string& name, DataType type) {
  if (!value.is_array()) bad(fmt::format("input '{}' must be a list", name));
  std::vector<Element> rows;
  for (const Element row : Array(value)) rows.push_back(row);
  return tensorFromRows(rows, name, type);
}

Shape readShape(const Element& value, const std::string& name) {
  Array dimensions;
  if (value.get_array().get(dimensions)) {
    bad(fmt::format("input '{}': shape must be a list of sizes", name));
  }
  if (dimensions.size() > kMaxRank) {
    bad(fmt::format("input '{}': more than {} dimensions", name, kMaxRank));
  }
  Shape shape;
  for (const Element dimension : dimensions) {
    int64_t size = 0;
    if (dimension.get_int64().get(size) || size < 0) {
      bad(fmt::format("input '{}': shape must hold sizes >= 0", name));
    }
    shape.push_back(size);
  }
  if (elementCount(shape) < 0) {
    bad(fmt::format("input '{}': shape {} is too large", name, formatShape(shape)));
  }
  return shape;
}

// Reads `count` elements of the binary tensor extension from the front of
// `binary`: `size` bytes, laid out as tensor.hpp's raw elements.
void readBinary(std::string_view& binary, uint64_t size, size_t count, Tensor& tensor) {
  if (size > binary.size()) {
    bad(fmt::format("input '{}': binary_data_size runs past the end of the body", tensor.name));
  }
  readRawElements(binary.substr(0, size), count, "the binary data (binary_data_size)", tensor);
  binary.remove_prefix(size);
}

// Whether `object.parameters.name` is true.
bool flagSet(const Object& object, std::string_view name) {
  Object parameters;
  const auto value = field(object, "parameters");
  if (!value || value->get_object().get(parameters)) return false;
  bool flag = false;
  return !parameters.at_key(name).get_bool().get(flag) && flag;
}

// Writes a floating-point value as JSON: shortest round-trip form; null for
// NaN and infinities, which JSON cannot carry.
template <typename T>
void appendFloat(std::string& out, T value) {
  if (std::isfinite(value)) {
    fmt::format_to(std::back_inserter(out), "{}", value);
  } else {
    out += "null";
  }
}

// Writes elements [first, first + count) of a tensor as a flat JSON list body.
void appendElements(std::string& out, const Tensor& tensor, size_t first, size_t count) {
  if (tensor.type == DataType::kBytes) {
    for (size_t i = first; i < first + count; ++i) {
      if (i != first) out += ',';
      out += jsonString(tensor.strings[i]);
    }
    return;
  }
  visitElementType(tensor.type, [&](auto zero) {
    using T = decltype(zero);
    const auto* data = reinterpret_cast<const T*>(tensor.bytes.data());
    for (size_t i = first; i < first + count; ++i) {
      if (i != first) out += ',';
      if constexpr (std::is_same_v<T, bool>) {
        out += data[i] ? "true" : "false";
      } else if constexpr (std::is_same_v<T, _Float16>) {
        appendFloat(out, static_cast<float>(data[i]));
      } else if constexpr (std::is_floating_point_v<T>) {
        appendFloat(out, data[i]);
      } else {
        fmt::format_to(std::back_inserter(out), "{}", data[i]);
      }
    }
  });
}

// Writes elements from `offset` on as nested lists of `shape` from dimension `d` on.
void appendNested(std::string& out, const Tensor& tensor, std::span<const int64_t> shape,
                  size_t& offset) {
  if (shape.empty()) {
    if (offset < tensor.size()) {
      appendElements(out, tensor, offset, 1);
    } else {
      out += "null";
    }
    ++offset;
    return;
  }
  out += '[';
  if (shape.size() == 1) {
    // The innermost list in one go: the common case of a [N, K] output.
    const size_t count = std::min<size_t>(static_cast<size_t>(shape[0]),
                                          tensor.size() - std::min(offset, tensor.size()));
    appendElements(out, tensor, offset, count);
    offset += static_cast<size_t>(shape[0]);
  } else {
    for (int64_t i = 0; i < shape[0]; ++i) {
      if (i) out += ',';
      appendNested(out, tensor, shape.subspan(1), offset);
    }
  }
  out += ']';
}

void appendTensor(std::string& out, const Tensor& tensor) {
  size_t offset = 0;
  appendNested(out, tensor, tensor.shape, offset);
}

// Row `row` of a tensor whose first dimension is the batch.
void appendRow(std::string& out, const Tensor& tensor, int64_t row) {
  const std::span<const int64_t> rowShape = std::span<const int64_t>(tensor.shape).subspan(1);
  const int64_t perRow =
      std::max<int64_t>(elementCount(Shape(rowShape.begin(), rowShape.end())), 0);
  size_t offset = static_cast<size_t>(row * perRow);
  appendNested(out, tensor, rowShape, offset);
}

// The data type of input `name`, as the signature declares it.
DataType inputType(const Signature& signature, const std::string& name) {
  const TensorSpec* spec = findSpec(signature.inputs, name);
  if (!spec) return DataType::kFp32;  // an unknown input: checkInputs names it
  const std::optional<DataType> type = parseDataType(spec->datatype);
  if (!type)
    bad(fmt::format("input '{}' has data type {}, which no request can carry", name,
                    spec->datatype));
  return *type;
}

}  // namespace

std::string jsonString(std::string_view text) {
  return nlohmann::json(std::string(text))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

KServeRequest parseKServeInfer(std::string_view body, std::optional<size_t> headerLength,
                               const Signature& signature) {
  if (headerLength && *headerLength > body.size()) {
    bad(fmt::format("Inference-Header-Content-Length {} is larger than the body ({} bytes)",
                    *headerLength, body.size()));
  }
  std::string_view binary = headerLength ? body.substr(*headerLength) : std::string_view();
  const Object json = parseObject(headerLength ? body.substr(0, *headerLength) : body);
  KServeRequest request;
  request.id = stringField(json, "id").value_or("");
  request.allOutputsBinary = flagSet(json, "binary_data_output");
  Array inputs;
  if (!field(json, "inputs") || json["inputs"].get_array().get(inputs)) {
    bad("the request needs an \"inputs\" list");
  }
  for (const Element item : inputs) {
    Object input;
    if (item.get_object().get(input)) {
      bad("each input must be an object with name, shape, datatype, data");
    }
    const auto name = stringField(input, "name");
    if (!name) bad("an input has no \"name\"");
    Tensor tensor{*name, DataType::kFp32, {}, {}, {}};
    const auto shape = field(input, "shape");
    if (!shape) bad(fmt::format("input '{}' has no \"shape\"", tensor.name));
    tensor.shape = readShape(*shape, tensor.name);
    const auto datatype = stringField(input, "datatype");
    if (!datatype) bad(fmt::format("input '{}' has no \"datatype\"", tensor.name));
    const std::optional<DataType> type = parseDataType(*datatype);
    if (!type) {
      bad(
          fmt::format("input '{}': unknown datatype \"{}\" (KServe v2 types: BOOL, UINT8 ... "
                      "UINT64, INT8 ... INT64, FP16, FP32, FP64, BYTES)",
                      tensor.name, *datatype));
    }
    tensor.type = *type;
    const TensorSpec* spec = findSpec(signature.inputs, tensor.name);
    if (spec && spec->datatype != *datatype) {
      bad(fmt::format("input '{}': expected datatype {}, given {}", tensor.name, spec->datatype,
                      *datatype));
    }
    const auto count = static_cast<size_t>(elementCount(tensor.shape));
    Object parameters;
    uint64_t size = 0;
    const auto parametersField = field(input, "parameters");
    if (parametersField && !parametersField->get_object().get(parameters) &&
        field(parameters, "binary_data_size")) {
      if (parameters["binary_data_size"].get_uint64().get(size)) {
        bad(fmt::format("input '{}': binary_data_size must be a number of bytes", tensor.name));
      }
      readBinary(binary, size, count, tensor);
    } else {
      const auto data = field(input, "data");
      if (!data) bad(fmt::format("input '{}' has no \"data\"", tensor.name));
      readData({&*data, 1}, tensor, std::min(count, body.size()));
    }
    request.inputs.push_back(std::move(tensor));
  }
  if (const auto outputsField = field(json, "outputs")) {
    Array outputs;
    if (outputsField->get_array().get(outputs)) {
      bad("\"outputs\" must be a list of {\"name\": ...}");
    }
    for (const Element item : outputs) {
      Object output;
      std::optional<std::string> name;
      if (item.get_object().get(output) || !(name = stringField(output, "name"))) {
        bad("each requested output needs a \"name\"");
      }
      request.outputs.push_back(*name);
      if (flagSet(output, "binary_data")) request.binaryOutputs.insert(*name);
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
    out += fmt::format("{{\"name\":{},\"datatype\":\"{}\",\"shape\":[{}]", jsonString(tensor.name),
                       dataTypeName(tensor.type), fmt::join(tensor.shape, ","));
    if (request.allOutputsBinary || request.binaryOutputs.count(tensor.name)) {
      const size_t before = binary.size();
      appendRawElements(tensor, binary);
      out += fmt::format(",\"parameters\":{{\"binary_data_size\":{}}}}}", binary.size() - before);
      continue;
    }
    out += ",\"data\":[";
    appendElements(out, tensor, 0, tensor.size());
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
  const Object json = parseObject(body);
  TfRequest request;
  const auto instances = field(json, "instances");
  const auto inputs = field(json, "inputs");
  if (instances.has_value() == inputs.has_value()) {
    bad("the request needs either \"instances\" (rows) or \"inputs\" (columns)");
  }
  const bool single = signature.inputs.size() == 1;
  if (instances) {
    request.rows = true;
    Array rows;
    if (instances->get_array().get(rows) || rows.size() == 0) {
      bad("\"instances\" must be a non-empty list");
    }
    // Rows of one input are its values; rows of several are {input: value} objects.
    for (const TensorSpec& spec : signature.inputs) {
      std::vector<Element> column;
      for (const Element row : rows) {
        if (row.is_object()) {
          const auto value = field(Object(row), spec.name);
          if (!value) bad(fmt::format("an instance lacks input '{}'", spec.name));
          column.push_back(*value);
        } else if (single) {
          column.push_back(row);
        } else {
          bad(fmt::format("the model takes {} inputs: each instance must be an object naming them",
                          signature.inputs.size()));
        }
      }
      request.inputs.push_back(tensorFromRows(column, spec.name, inputType(signature, spec.name)));
    }
    return request;
  }
  if (inputs->is_object()) {
    for (const auto [key, value] : Object(*inputs)) {
      const std::string name(key);
      request.inputs.push_back(nestedTensor(value, name, inputType(signature, name)));
    }
  } else if (single) {
    const std::string& name = signature.inputs.front().name;
    request.inputs.push_back(nestedTensor(*inputs, name, inputType(signature, name)));
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
