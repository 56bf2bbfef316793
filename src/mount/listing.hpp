#pragma once

// A directory's children as a mount keeps them: sorted by name, in compact
// form, because a mount may hold millions of them. Each costs its name's
// bytes plus 20: the names are packed (PackedNames), and an entry keeps a
// directory flag, a size and the modification time in seconds (all that stat
// shows). A listing never changes once built; the cache and the readdirs
// paging through it share it.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/packed_names.hpp"

namespace skiff::mount {

struct Attributes {
  bool isDirectory = false;
  uint64_t size = 0;
  std::chrono::system_clock::time_point modified;
};

class Listing {
 public:
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  std::string_view name(size_t index) const { return names_[index]; }
  Attributes attributes(size_t index) const;
  // The first entry whose name is not less than (lowerBound) or is greater
  // than (upperBound) `name`; size() when there is none.
  size_t lowerBound(std::string_view name) const { return names_.lowerBound(name); }
  size_t upperBound(std::string_view name) const { return names_.upperBound(name); }
  std::optional<Attributes> find(std::string_view name) const;

  class Builder;

 private:
  struct Entry {
    uint64_t size : 63;
    uint64_t isDirectory : 1;
    int64_t modifiedSeconds;
  };

  PackedNames names_;
  std::vector<Entry> entries_;  // one per name, in the same order
};

// Takes entries in any order; a name added again replaces the earlier one.
class Listing::Builder {
 public:
  // False, with nothing added, when the names would pass 4 GiB in all.
  [[nodiscard]] bool add(std::string_view name, const Attributes& attributes);
  size_t size() const { return building_.size(); }
  // The listing, sorted, with no spare capacity. Leaves the builder empty.
  std::shared_ptr<const Listing> finish();

 private:
  Listing building_;
};

}  // namespace skiff::mount
