#pragma once

// Tensors as requests carry them and engines run them. Data types are named
// as the KServe v2 protocol names them ("FP32", "INT64", "BYTES", ...).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace skiff::serve {

// A dimension of -1 is dynamic (a batch dimension, or an ONNX dim_param).
using Shape = std::vector<int64_t>;

// The element types both protocols carry. FP16 is IEEE half precision.
enum class DataType : uint8_t {
  kBool,
  kUint8,
  kUint16,
  kUint32,
  kUint64,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kFp16,
  kFp32,
  kFp64,
  kBytes,  // strings of bytes, one per element
};

const char* dataTypeName(DataType type);
// The KServe name ("FP32") as a DataType; nothing for other names.
std::optional<DataType> parseDataType(std::string_view name);
// Bytes per element; 0 for BYTES, whose elements vary in length.
size_t elementSize(DataType type);
bool isFloatingPoint(DataType type);

struct TensorSpec {
  std::string name;
  // KServe name: FP32, INT64, ...; an ONNX type no protocol carries keeps its
  // ONNX name (BF16, COMPLEX64) and "unknown" stands for a non-tensor value.
  std::string datatype;
  Shape shape;
};

// The signature of a model: what it takes and what it gives.
struct Signature {
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
};

// A dense tensor in row-major order. Fixed-size elements live in `bytes`
// (native byte order, as the binary extension and ONNX Runtime have them);
// BYTES elements in `strings`.
struct Tensor {
  std::string name;
  DataType type = DataType::kFp32;
  Shape shape;
  std::vector<std::byte> bytes;
  std::vector<std::string> strings;

  // Number of elements held (not what the shape says).
  size_t size() const;
  // The elements as T; T must match `type`.
  template <typename T>
  std::span<const T> values() const {
    return {reinterpret_cast<const T*>(bytes.data()), bytes.size() / sizeof(T)};
  }
  template <typename T>
  std::span<T> values() {
    return {reinterpret_cast<T*>(bytes.data()), bytes.size() / sizeof(T)};
  }
  // Element `i` as a double (numbers and BOOL), for comparisons and checks.
  double number(size_t i) const;
  // Appends `count` elements of `other` from element `first` on (same type).
  void append(const Tensor& other, size_t first, size_t count);
};

// Calls f(T{}) with the C++ type of a fixed-size element type: bool, the
// <cstdint> integers, _Float16 (FP16), float, double. Not for BYTES.
template <typename F>
decltype(auto) visitElementType(DataType type, F&& f) {
  switch (type) {
    case DataType::kBool:
      return f(bool{});
    case DataType::kUint8:
      return f(uint8_t{});
    case DataType::kUint16:
      return f(uint16_t{});
    case DataType::kUint32:
      return f(uint32_t{});
    case DataType::kUint64:
      return f(uint64_t{});
    case DataType::kInt8:
      return f(int8_t{});
    case DataType::kInt16:
      return f(int16_t{});
    case DataType::kInt32:
      return f(int32_t{});
    case DataType::kInt64:
      return f(int64_t{});
    case DataType::kFp16:
      return f(_Float16{});
    case DataType::kFp64:
      return f(double{});
    case DataType::kFp32:
    case DataType::kBytes:
      break;
  }
  return f(float{});
}

// A tensor of `type` and `shape` holding `values` (converted).
Tensor makeTensor(std::string name, DataType type, Shape shape, std::span<const double> values);

// Number of elements of a shape with no dynamic dimension; -1 when the shape
// is invalid (a negative dimension, or a product beyond `limit`).
int64_t elementCount(const Shape& shape, int64_t limit = int64_t{1} << 40);

// "[-1, 4]" for messages.
std::string formatShape(const Shape& shape);

// Whether `given` (fully known) fits `expected` (with -1 for any size).
bool shapeMatches(const Shape& expected, const Shape& given);

// The raw layout of elements that KServe's binary tensor extension (REST)
// and raw_input_contents / raw_output_contents (gRPC) share: native values,
// or for BYTES a 4-byte length before each element.
void appendRawElements(const Tensor& tensor, std::string& out);
// Reads `count` elements of `tensor`'s type and name from `data`, all of it;
// `holder` names where the bytes came from in the RequestError (400) for a
// malformed one.
void readRawElements(std::string_view data, size_t count, std::string_view holder, Tensor& tensor);

}  // namespace skiff::serve
