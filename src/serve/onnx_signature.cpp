#include "serve/onnx_signature.hpp"

#include <fmt/format.h>

#include <optional>
#include <set>

#include "common/error.hpp"

namespace skiff::serve {
namespace {

// Field numbers of onnx.proto that the signature needs.
constexpr uint32_t kModelGraph = 7;
constexpr uint32_t kModelOpsetImport = 8;
constexpr uint32_t kOpsetDomain = 1;
constexpr uint32_t kOpsetVersion = 2;
constexpr uint32_t kGraphNode = 1;
constexpr uint32_t kNodeName = 3;
constexpr uint32_t kNodeOpType = 4;
constexpr uint32_t kNodeDomain = 7;
constexpr uint32_t kGraphInitializer = 5;
constexpr uint32_t kGraphInput = 11;
constexpr uint32_t kGraphOutput = 12;
constexpr uint32_t kTensorName = 8;
constexpr uint32_t kValueInfoName = 1;
constexpr uint32_t kValueInfoType = 2;
constexpr uint32_t kTypeTensor = 1;
constexpr uint32_t kTensorTypeElem = 1;
constexpr uint32_t kTensorTypeShape = 2;
constexpr uint32_t kShapeDim = 1;
constexpr uint32_t kDimValue = 1;

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

struct Field {
  uint32_t number = 0;
  uint32_t wireType = 0;
  uint64_t varint = 0;
  std::string_view bytes;
};

// Reads the fields of one protobuf message; each problem throws.
class Reader {
 public:
  Reader(std::string_view data, const std::string& where) : data_(data), where_(where) {}

  std::optional<Field> next() {
    if (data_.empty()) return std::nullopt;
    Field field;
    const uint64_t key = varint();
    field.number = static_cast<uint32_t>(key >> 3);
    field.wireType = static_cast<uint32_t>(key & 7);
    switch (field.wireType) {
      case kVarint:
        field.varint = varint();
        break;
      case kFixed64:
        skip(8);
        break;
      case kFixed32:
        skip(4);
        break;
      case kLengthDelimited: {
        const uint64_t length = varint();
        if (length > data_.size()) fail("a field runs past the end of the file");
        field.bytes = data_.substr(0, length);
        data_.remove_prefix(length);
        break;
      }
      default:
        fail(fmt::format("unexpected protobuf wire type {}", field.wireType));
    }
    return field;
  }

  [[noreturn]] void fail(const std::string& problem) const {
    throw Error("not an ONNX model: " + problem, where_,
                "upload a model.onnx written by an ONNX exporter (torch.onnx, tf2onnx, onnx)");
  }

 private:
  uint64_t varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (data_.empty()) fail("truncated varint");
      const auto byte = static_cast<uint8_t>(data_.front());
      data_.remove_prefix(1);
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return value;
    }
    fail("overlong varint");
  }

  void skip(size_t count) {
    if (data_.size() < count) fail("truncated fixed-size field");
    data_.remove_prefix(count);
  }

  std::string_view data_;
  const std::string& where_;
};

std::string datatypeName(uint64_t onnxElemType) {
  static const char* const kNames[] = {
      "",     "FP32", "UINT8", "INT8",   "UINT16", "INT16",     "INT32",      "INT64", "BYTES",
      "BOOL", "FP16", "FP64",  "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BF16"};
  if (onnxElemType > 0 && onnxElemType < std::size(kNames)) return kNames[onnxElemType];
  return fmt::format("ONNX type {}", onnxElemType);
}

Shape readShape(std::string_view bytes, const std::string& where) {
  Shape shape;
  Reader shapeReader(bytes, where);
  while (auto dim = shapeReader.next()) {
    if (dim->number != kShapeDim || dim->wireType != kLengthDelimited) continue;
    int64_t size = -1;  // a dim_param or an unset dimension: any size
    Reader dimReader(dim->bytes, where);
    while (auto value = dimReader.next()) {
      if (value->number == kDimValue && value->wireType == kVarint) {
        size = static_cast<int64_t>(value->varint);
      }
    }
    shape.push_back(size < 0 ? -1 : size);
  }
  return shape;
}

TensorSpec readValueInfo(std::string_view bytes, const std::string& where) {
  TensorSpec spec;
  spec.datatype = "unknown";
  Reader reader(bytes, where);
  while (auto field = reader.next()) {
    if (field->wireType != kLengthDelimited) continue;
    if (field->number == kValueInfoName) spec.name = std::string(field->bytes);
    if (field->number != kValueInfoType) continue;
    Reader typeReader(field->bytes, where);
    while (auto type = typeReader.next()) {
      if (type->number != kTypeTensor || type->wireType != kLengthDelimited) continue;
      Reader tensorReader(type->bytes, where);
      while (auto part = tensorReader.next()) {
        if (part->number == kTensorTypeElem && part->wireType == kVarint) {
          spec.datatype = datatypeName(part->varint);
        } else if (part->number == kTensorTypeShape && part->wireType == kLengthDelimited) {
          spec.shape = readShape(part->bytes, where);
        }
      }
    }
  }
  return spec;
}

std::string readTensorName(std::string_view bytes, const std::string& where) {
  Reader reader(bytes, where);
  while (auto field = reader.next()) {
    if (field->number == kTensorName && field->wireType == kLengthDelimited) {
      return std::string(field->bytes);
    }
  }
  return {};
}

OnnxNode readNode(std::string_view bytes, const std::string& where) {
  OnnxNode node;
  Reader reader(bytes, where);
  while (auto field = reader.next()) {
    if (field->wireType != kLengthDelimited) continue;
    if (field->number == kNodeName) node.name = std::string(field->bytes);
    if (field->number == kNodeOpType) node.opType = std::string(field->bytes);
    if (field->number == kNodeDomain) node.domain = std::string(field->bytes);
  }
  if (node.domain == "ai.onnx") node.domain.clear();
  return node;
}

}  // namespace

OnnxGraph readOnnxGraph(std::string_view bytes, const std::string& where) {
  Reader model(bytes, where);
  std::optional<std::string_view> graphBytes;
  OnnxGraph graph;
  while (auto field = model.next()) {
    if (field->wireType != kLengthDelimited) continue;
    if (field->number == kModelGraph) graphBytes = field->bytes;
    if (field->number == kModelOpsetImport) {
      std::string domain;
      int64_t version = 0;
      Reader opset(field->bytes, where);
      while (auto part = opset.next()) {
        if (part->number == kOpsetDomain && part->wireType == kLengthDelimited) {
          domain = std::string(part->bytes);
        }
        if (part->number == kOpsetVersion && part->wireType == kVarint) {
          version = static_cast<int64_t>(part->varint);
        }
      }
      graph.opsets[domain == "ai.onnx" ? "" : domain] = version;
    }
  }
  if (!graphBytes) model.fail("it has no graph");
  Signature& signature = graph.signature;
  std::set<std::string> initializers;
  Reader reader(*graphBytes, where);
  while (auto field = reader.next()) {
    if (field->wireType != kLengthDelimited) continue;
    if (field->number == kGraphInput)
      signature.inputs.push_back(readValueInfo(field->bytes, where));
    if (field->number == kGraphOutput) {
      signature.outputs.push_back(readValueInfo(field->bytes, where));
    }
    if (field->number == kGraphInitializer)
      initializers.insert(readTensorName(field->bytes, where));
    if (field->number == kGraphNode) graph.nodes.push_back(readNode(field->bytes, where));
  }
  std::erase_if(signature.inputs,
                [&](const TensorSpec& input) { return initializers.count(input.name) > 0; });
  if (signature.inputs.empty() || signature.outputs.empty()) {
    model.fail("its graph declares no inputs or no outputs");
  }
  return graph;
}

Signature readOnnxSignature(std::string_view bytes, const std::string& where) {
  return readOnnxGraph(bytes, where).signature;
}

}  // namespace skiff::serve
