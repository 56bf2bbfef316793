#include "serve/tensor.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace skiff::serve {

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

}  // namespace skiff::serve
