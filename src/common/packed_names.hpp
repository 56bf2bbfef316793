#pragma once

// Many names in little memory: back to back in one string, with where each
// one ends. A mount or a file:// listing may hold millions of names (issue
// 16: at most 300 bytes a name in all), where a std::string each would cost
// 32 bytes plus a heap block of its own.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace skiff {

class PackedNames {
 public:
  size_t size() const { return ends_.size(); }
  bool empty() const { return ends_.empty(); }
  std::string_view operator[](size_t index) const;

  // False, with nothing added, when the names would pass 4 GiB in all.
  [[nodiscard]] bool append(std::string_view name);
  void reserve(size_t names, size_t bytes);
  void shrinkToFit();

  // The indexes in name order (of equal names, the first added first).
  std::vector<uint32_t> sortedOrder() const;
  // The names at `order`, in that order.
  PackedNames picked(const std::vector<uint32_t>& order) const;
  bool sortedAndUnique() const;

  // On sorted names: the first index whose name is not less than
  // (lowerBound) or is greater than (upperBound) `name`; size() if none.
  size_t lowerBound(std::string_view name) const;
  size_t upperBound(std::string_view name) const;

 private:
  std::string bytes_;
  std::vector<uint32_t> ends_;
};

}  // namespace skiff
