#pragma once

// Tensors as requests carry them and engines run them. Names of data types
// follow the KServe v2 protocol ("FP32", "INT64", ...).

#include <cstdint>
#include <string>
#include <vector>

namespace skiff::serve {

// A dimension of -1 is dynamic (a batch dimension, or an ONNX dim_param).
using Shape = std::vector<int64_t>;

struct TensorSpec {
  std::string name;
  std::string datatype;  // KServe name: FP32, INT64, ...
  Shape shape;
};

// The signature of a model: what it takes and what it gives.
struct Signature {
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
};

// A dense FP32 tensor in row-major order, the one type the engines run.
struct Tensor {
  std::string name;
  Shape shape;
  std::vector<float> data;
};

inline constexpr const char* kFp32 = "FP32";

// Number of elements of a shape with no dynamic dimension; -1 when the shape
// is invalid (a negative dimension, or a product beyond `limit`).
int64_t elementCount(const Shape& shape, int64_t limit = int64_t{1} << 40);

// "[-1, 4]" for messages.
std::string formatShape(const Shape& shape);

// Whether `given` (fully known) fits `expected` (with -1 for any size).
bool shapeMatches(const Shape& expected, const Shape& given);

}  // namespace skiff::serve
