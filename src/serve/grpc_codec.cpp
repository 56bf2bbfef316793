#include "serve/grpc_codec.hpp"

#include <fmt/format.h>

#include <type_traits>
#include <utility>

namespace skiff::serve {
namespace {

using Contents = inference::InferTensorContents;

[[noreturn]] void bad(const std::string& message) {
  throw RequestError(400, message);
}

// The typed field a data type's elements travel in, by its protocol name.
const char* contentsField(DataType type) {
  switch (type) {
    case DataType::kBool:
      return "bool_contents";
    case DataType::kInt8:
    case DataType::kInt16:
    case DataType::kInt32:
      return "int_contents";
    case DataType::kInt64:
      return "int64_contents";
    case DataType::kUint8:
    case DataType::kUint16:
    case DataType::kUint32:
      return "uint_contents";
    case DataType::kUint64:
      return "uint64_contents";
    case DataType::kFp32:
      return "fp32_contents";
    case DataType::kFp64:
      return "fp64_contents";
    case DataType::kBytes:
      return "bytes_contents";
    case DataType::kFp16:
      break;
  }
  return nullptr;
}

// Elements held in any typed field (a request may fill the wrong one).
size_t typedCount(const Contents& c) {
  return static_cast<size_t>(c.bool_contents_size() + c.int_contents_size() +
                             c.int64_contents_size() + c.uint_contents_size() +
                             c.uint64_contents_size() + c.fp32_contents_size() +
                             c.fp64_contents_size() + c.bytes_contents_size());
}

// Copies `values` into `tensor` as elements of T, refusing values T cannot hold.
template <typename T, typename Repeated>
void copyChecked(const Repeated& values, Tensor& tensor) {
  tensor.bytes.resize(static_cast<size_t>(values.size()) * sizeof(T));
  auto out = tensor.values<T>();
  for (int i = 0; i < values.size(); ++i) {
    const auto value = values[i];
    if constexpr (!std::is_same_v<T, bool> && !std::is_floating_point_v<T>) {
      if (!std::in_range<T>(value)) {
        bad(fmt::format("input '{}': value {} at {} does not fit {}", tensor.name, value, i,
                        dataTypeName(tensor.type)));
      }
    }
    out[static_cast<size_t>(i)] = static_cast<T>(value);
  }
}

void readTyped(const Contents& contents, size_t count, Tensor& tensor) {
  const char* field = contentsField(tensor.type);
  if (!field) {
    bad(
        fmt::format("input '{}': {} has no typed contents in the protocol; send it in "
                    "raw_input_contents",
                    tensor.name, dataTypeName(tensor.type)));
  }
  switch (tensor.type) {
    case DataType::kBool:
      copyChecked<bool>(contents.bool_contents(), tensor);
      break;
    case DataType::kInt8:
      copyChecked<int8_t>(contents.int_contents(), tensor);
      break;
    case DataType::kInt16:
      copyChecked<int16_t>(contents.int_contents(), tensor);
      break;
    case DataType::kInt32:
      copyChecked<int32_t>(contents.int_contents(), tensor);
      break;
    case DataType::kInt64:
      copyChecked<int64_t>(contents.int64_contents(), tensor);
      break;
    case DataType::kUint8:
      copyChecked<uint8_t>(contents.uint_contents(), tensor);
      break;
    case DataType::kUint16:
      copyChecked<uint16_t>(contents.uint_contents(), tensor);
      break;
    case DataType::kUint32:
      copyChecked<uint32_t>(contents.uint_contents(), tensor);
      break;
    case DataType::kUint64:
      copyChecked<uint64_t>(contents.uint64_contents(), tensor);
      break;
    case DataType::kFp32:
      copyChecked<float>(contents.fp32_contents(), tensor);
      break;
    case DataType::kFp64:
      copyChecked<double>(contents.fp64_contents(), tensor);
      break;
    case DataType::kBytes:
      tensor.strings.assign(contents.bytes_contents().begin(), contents.bytes_contents().end());
      break;
    case DataType::kFp16:
      break;
  }
  const size_t given = tensor.size();
  if (given != count) {
    const size_t elsewhere = typedCount(contents) - given;
    bad(fmt::format("input '{}': shape {} needs {} values, given {} in {}{}", tensor.name,
                    formatShape(tensor.shape), count, given, field,
                    elsewhere ? fmt::format(" ({} in other fields: {} goes in {})", elsewhere,
                                            dataTypeName(tensor.type), field)
                              : ""));
  }
}

template <typename T, typename Repeated>
void appendAll(const Tensor& tensor, Repeated* out) {
  out->Reserve(static_cast<int>(tensor.size()));
  for (const T value : tensor.values<T>()) out->Add(value);
}

void writeTyped(const Tensor& tensor, Contents& contents) {
  switch (tensor.type) {
    case DataType::kBool:
      appendAll<bool>(tensor, contents.mutable_bool_contents());
      break;
    case DataType::kInt8:
      appendAll<int8_t>(tensor, contents.mutable_int_contents());
      break;
    case DataType::kInt16:
      appendAll<int16_t>(tensor, contents.mutable_int_contents());
      break;
    case DataType::kInt32:
      appendAll<int32_t>(tensor, contents.mutable_int_contents());
      break;
    case DataType::kInt64:
      appendAll<int64_t>(tensor, contents.mutable_int64_contents());
      break;
    case DataType::kUint8:
      appendAll<uint8_t>(tensor, contents.mutable_uint_contents());
      break;
    case DataType::kUint16:
      appendAll<uint16_t>(tensor, contents.mutable_uint_contents());
      break;
    case DataType::kUint32:
      appendAll<uint32_t>(tensor, contents.mutable_uint_contents());
      break;
    case DataType::kUint64:
      appendAll<uint64_t>(tensor, contents.mutable_uint64_contents());
      break;
    case DataType::kFp32:
      appendAll<float>(tensor, contents.mutable_fp32_contents());
      break;
    case DataType::kFp64:
      appendAll<double>(tensor, contents.mutable_fp64_contents());
      break;
    case DataType::kBytes:
      for (const std::string& element : tensor.strings) contents.add_bytes_contents(element);
      break;
    case DataType::kFp16:
      break;
  }
}

// A tensor's name, type and shape from a message; its contents are read by the caller.
template <typename Message>
Tensor header(const Message& message, const char* what) {
  Tensor tensor;
  tensor.name = message.name();
  const std::optional<DataType> type = parseDataType(message.datatype());
  if (!type) {
    bad(
        fmt::format("{} '{}': unknown datatype '{}' (BOOL, INT8..INT64, UINT8..UINT64, FP16, "
                    "FP32, FP64 or BYTES)",
                    what, tensor.name, message.datatype()));
  }
  tensor.type = *type;
  tensor.shape.assign(message.shape().begin(), message.shape().end());
  if (elementCount(tensor.shape) < 0) {
    bad(fmt::format("{} '{}': invalid shape {}", what, tensor.name, formatShape(tensor.shape)));
  }
  return tensor;
}

}  // namespace

std::vector<Tensor> decodeInputs(const inference::ModelInferRequest& request) {
  const bool raw = request.raw_input_contents_size() > 0;
  if (raw && request.raw_input_contents_size() != request.inputs_size()) {
    bad(
        fmt::format("raw_input_contents has {} entries for {} inputs: give one per input, in "
                    "the order of inputs",
                    request.raw_input_contents_size(), request.inputs_size()));
  }
  std::vector<Tensor> tensors;
  tensors.reserve(static_cast<size_t>(request.inputs_size()));
  for (int i = 0; i < request.inputs_size(); ++i) {
    const auto& input = request.inputs(i);
    Tensor tensor = header(input, "input");
    const auto count = static_cast<size_t>(elementCount(tensor.shape));
    if (raw) {
      if (input.has_contents() && typedCount(input.contents()) > 0) {
        bad(
            fmt::format("input '{}' has contents besides raw_input_contents: send one or the "
                        "other",
                        tensor.name));
      }
      readRawElements(request.raw_input_contents(i), count, "raw_input_contents", tensor);
    } else {
      readTyped(input.contents(), count, tensor);
    }
    tensors.push_back(std::move(tensor));
  }
  return tensors;
}

void encodeOutputs(const std::vector<Tensor>& outputs, bool raw,
                   inference::ModelInferResponse& response) {
  for (const Tensor& tensor : outputs) raw = raw || !contentsField(tensor.type);
  for (const Tensor& tensor : outputs) {
    auto* output = response.add_outputs();
    output->set_name(tensor.name);
    output->set_datatype(dataTypeName(tensor.type));
    for (const int64_t dimension : tensor.shape) output->add_shape(dimension);
    if (raw) {
      appendRawElements(tensor, *response.add_raw_output_contents());
    } else {
      writeTyped(tensor, *output->mutable_contents());
    }
  }
}

std::vector<Tensor> decodeOutputs(const inference::ModelInferResponse& response) {
  const bool raw = response.raw_output_contents_size() > 0;
  if (raw && response.raw_output_contents_size() != response.outputs_size()) {
    bad(fmt::format("raw_output_contents has {} entries for {} outputs",
                    response.raw_output_contents_size(), response.outputs_size()));
  }
  std::vector<Tensor> tensors;
  for (int i = 0; i < response.outputs_size(); ++i) {
    const auto& output = response.outputs(i);
    Tensor tensor = header(output, "output");
    const auto count = static_cast<size_t>(elementCount(tensor.shape));
    if (raw) {
      readRawElements(response.raw_output_contents(i), count, "raw_output_contents", tensor);
    } else {
      readTyped(output.contents(), count, tensor);
    }
    tensors.push_back(std::move(tensor));
  }
  return tensors;
}

}  // namespace skiff::serve
