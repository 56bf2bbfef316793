#include "mount/listing.hpp"

#include <algorithm>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace skiff::mount {

std::string_view Listing::name(size_t index) const {
  const uint32_t start = index == 0 ? 0 : nameEnds_[index - 1];
  return std::string_view(names_).substr(start, nameEnds_[index] - start);
}

Attributes Listing::attributes(size_t index) const {
  const Entry& entry = entries_[index];
  Attributes attributes;
  attributes.isDirectory = entry.isDirectory;
  attributes.size = entry.size;
  attributes.modified =
      std::chrono::system_clock::time_point(std::chrono::seconds(entry.modifiedSeconds));
  return attributes;
}

size_t Listing::lowerBound(std::string_view name) const {
  size_t low = 0;
  size_t high = size();
  while (low < high) {
    const size_t middle = low + (high - low) / 2;
    if (this->name(middle) < name) {
      low = middle + 1;
    } else {
      high = middle;
    }
  }
  return low;
}

size_t Listing::upperBound(std::string_view name) const {
  const size_t at = lowerBound(name);
  return at < size() && this->name(at) == name ? at + 1 : at;
}

std::optional<Attributes> Listing::find(std::string_view name) const {
  const size_t at = lowerBound(name);
  if (at == size() || this->name(at) != name) return std::nullopt;
  return attributes(at);
}

void Listing::append(std::string_view name, const Entry& entry) {
  if (names_.size() + name.size() > std::numeric_limits<uint32_t>::max()) {
    throw std::length_error("a directory listing of more than 4 GiB of names");
  }
  names_.append(name);
  nameEnds_.push_back(static_cast<uint32_t>(names_.size()));
  entries_.push_back(entry);
}

bool Listing::sortedAndUnique() const {
  for (size_t at = 1; at < size(); ++at) {
    if (!(name(at - 1) < name(at))) return false;
  }
  return true;
}

void Listing::Builder::add(std::string_view name, const Attributes& attributes) {
  Entry entry{};
  entry.size = attributes.size;
  entry.isDirectory = attributes.isDirectory;
  entry.modifiedSeconds =
      std::chrono::duration_cast<std::chrono::seconds>(attributes.modified.time_since_epoch())
          .count();
  building_.append(name, entry);
}

std::shared_ptr<const Listing> Listing::Builder::finish() {
  auto listing = std::make_shared<Listing>();
  // Stores list in name order: usually there is nothing to sort.
  if (building_.sortedAndUnique()) {
    *listing = std::move(building_);
    listing->names_.shrink_to_fit();
    listing->nameEnds_.shrink_to_fit();
    listing->entries_.shrink_to_fit();
  } else {
    std::vector<uint32_t> order(building_.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [this](uint32_t a, uint32_t b) {
      return building_.name(a) < building_.name(b);
    });
    // Of equal names the last added wins (a blob "x" over the prefix "x/").
    size_t kept = 0;
    for (size_t at = 0; at < order.size(); ++at) {
      if (at + 1 < order.size() && building_.name(order[at]) == building_.name(order[at + 1])) {
        continue;
      }
      order[kept++] = order[at];
    }
    order.resize(kept);
    size_t nameBytes = 0;
    for (const uint32_t index : order) nameBytes += building_.name(index).size();
    listing->names_.reserve(nameBytes);
    listing->nameEnds_.reserve(order.size());
    listing->entries_.reserve(order.size());
    for (const uint32_t index : order) {
      listing->append(building_.name(index), building_.entries_[index]);
    }
  }
  building_ = Listing();
  return listing;
}

}  // namespace skiff::mount
