#include "serve/tensor.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>
#include <cstring>
#include <utility>

#include "serve/request_error.hpp"

namespace skiff::serve {
namespace {

constexpr std::array<std::pair<DataType, const char*>, 13> kNames{{
    {DataType::kBool, "BOOL"},
    {DataType::kUint8, "UINT8"},
    {DataType::kUint16, "UINT16"},
    {DataType::kUint32, "UINT32"},
    {DataType::kUint64, "UINT64"},
    {DataType::kInt8, "INT8"},
    {DataType::kInt16, "INT16"},
    {DataType::kInt32, "INT32"},
    {DataType::kInt64, "INT64"},
    {DataType::kFp16, "FP16"},
    {DataType::kFp32, "FP32"},
    {DataType::kFp64, "FP64"},
    {DataType::kBytes, "BYTES"},
}};

}  // namespace

const char* dataTypeName(DataType type) {
  for (const auto& [entry, name] : kNames) {
    if (entry == type) return name;
  }
  return "unknown";
}

std::optional<DataType> parseDataType(std::string_view name) {
  for (const auto& [entry, text] : kNames) {
    if (name == text) return entry;
  }
  return std::nullopt;
}

size_t elementSize(DataType type) {
  if (type == DataType::kBytes) return 0;
  return visitElementType(type, [](auto value) { return sizeof(value); });
}

bool isFloatingPoint(DataType type) {
  return type == DataType::kFp16 || type == DataType::kFp32 || type == DataType::kFp64;
}

size_t Tensor::size() const {
  return type == DataType::kBytes ? strings.size() : bytes.size() / elementSize(type);
}

double Tensor::number(size_t i) const {
  if (type == DataType::kBytes) return 0;
  return visitElementType(type, [&](auto zero) {
    decltype(zero) value;
    std::memcpy(&value, bytes.data() + i * sizeof(value), sizeof(value));
    return static_cast<double>(value);
  });
}

void Tensor::append(const Tensor& other, size_t first, size_t count) {
  if (type == DataType::kBytes) {
    const auto begin = other.strings.begin() + static_cast<std::ptrdiff_t>(first);
    strings.insert(strings.end(), begin, begin + static_cast<std::ptrdiff_t>(count));
    return;
  }
  const size_t size = elementSize(type);
  const auto begin = other.bytes.begin() + static_cast<std::ptrdiff_t>(first * size);
  bytes.insert(bytes.end(), begin, begin + static_cast<std::ptrdiff_t>(count * size));
}

Tensor makeTensor(std::string name, DataType type, Shape shape, std::span<const double> values) {
  Tensor tensor{std::move(name), type, std::move(shape), {}, {}};
  if (type == DataType::kBytes) {
    for (const double value : values) tensor.strings.push_back(fmt::format("{}", value));
    return tensor;
  }
  visitElementType(type, [&](auto zero) {
    using T = decltype(zero);
    tensor.bytes.resize(values.size() * sizeof(T));
    for (size_t i = 0; i < values.size(); ++i) {
      const auto value = static_cast<T>(values[i]);
      std::memcpy(tensor.bytes.data() + i * sizeof(T), &value, sizeof(T));
    }
  });
  return tensor;
}

int64_t elementCount(const Shape& shape, int64_t limit) {
  int64_t count = 1;
  for (const int64_t dimension : shape) {
    if (dimension < 0) return -1;
    if (dimension != 0 && count > limit / dimension) return -1;
    count *= dimension;
  }
  return count;
}

std::string formatShape(const Shape& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

bool shapeMatches(const Shape& expected, const Shape& given) {
  if (expected.size() != given.size()) return false;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (expected[i] >= 0 && expected[i] != given[i]) return false;
  }
  return true;
}

void appendRawElements(const Tensor& tensor, std::string& out) {
  if (tensor.type != DataType::kBytes) {
    out.append(reinterpret_cast<const char*>(tensor.bytes.data()), tensor.bytes.size());
    return;
  }
  for (const std::string& element : tensor.strings) {
    const auto length = static_cast<uint32_t>(element.size());
    out.append(reinterpret_cast<const char*>(&length), sizeof(length));
    out += element;
  }
}

void readRawElements(std::string_view data, size_t count, std::string_view holder, Tensor& tensor) {
  if (tensor.type != DataType::kBytes) {
    const size_t expected = count * elementSize(tensor.type);
    if (data.size() != expected) {
      throw RequestError(
          400,
          fmt::format("input '{}': {} holds {} bytes; shape {} of {} needs {}", tensor.name, holder,
                      data.size(), formatShape(tensor.shape), dataTypeName(tensor.type), expected));
    }
    tensor.bytes.resize(data.size());
    if (!data.empty()) std::memcpy(tensor.bytes.data(), data.data(), data.size());
    return;
  }
  while (!data.empty()) {
    uint32_t length = 0;
    if (data.size() < sizeof(length) || (std::memcpy(&length, data.data(), sizeof(length)),
                                         data.size() - sizeof(length) < length)) {
      throw RequestError(400, fmt::format("input '{}': a BYTES element runs past the end of {}",
                                          tensor.name, holder));
    }
    tensor.strings.emplace_back(data.substr(sizeof(length), length));
    data.remove_prefix(sizeof(length) + length);
  }
  if (tensor.strings.size() != count) {
    throw RequestError(
        400, fmt::format("input '{}': {} holds {} BYTES elements; shape {} needs {}", tensor.name,
                         holder, tensor.strings.size(), formatShape(tensor.shape), count));
  }
}

}  // namespace skiff::serve
