#include "common/packed_names.hpp"

#include <algorithm>
#include <limits>
#include <numeric>

namespace skiff {

std::string_view PackedNames::operator[](size_t index) const {
  const uint32_t start = index == 0 ? 0 : ends_[index - 1];
  return std::string_view(bytes_).substr(start, ends_[index] - start);
}

bool PackedNames::append(std::string_view name) {
  if (name.size() > std::numeric_limits<uint32_t>::max() - bytes_.size()) return false;
  bytes_.append(name);
  ends_.push_back(static_cast<uint32_t>(bytes_.size()));
  return true;
}

void PackedNames::reserve(size_t names, size_t bytes) {
  ends_.reserve(names);
  bytes_.reserve(bytes);
}

void PackedNames::shrinkToFit() {
  bytes_.shrink_to_fit();
  ends_.shrink_to_fit();
}

std::vector<uint32_t> PackedNames::sortedOrder() const {
  std::vector<uint32_t> order(size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [this](uint32_t a, uint32_t b) { return (*this)[a] < (*this)[b]; });
  return order;
}

PackedNames PackedNames::picked(const std::vector<uint32_t>& order) const {
  PackedNames result;
  size_t bytes = 0;
  for (const uint32_t index : order) bytes += (*this)[index].size();
  result.reserve(order.size(), bytes);
  // Never more bytes than these names hold, so never past 4 GiB.
  for (const uint32_t index : order) (void)result.append((*this)[index]);
  return result;
}

bool PackedNames::sortedAndUnique() const {
  for (size_t at = 1; at < size(); ++at) {
    if (!((*this)[at - 1] < (*this)[at])) return false;
  }
  return true;
}

size_t PackedNames::lowerBound(std::string_view name) const {
  size_t low = 0;
  size_t high = size();
  while (low < high) {
    const size_t middle = low + (high - low) / 2;
    if ((*this)[middle] < name) {
      low = middle + 1;
    } else {
      high = middle;
    }
  }
  return low;
}

size_t PackedNames::upperBound(std::string_view name) const {
  const size_t at = lowerBound(name);
  return at < size() && (*this)[at] == name ? at + 1 : at;
}

}  // namespace skiff
