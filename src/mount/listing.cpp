#include "mount/listing.hpp"

namespace skiff::mount {

Attributes Listing::attributes(size_t index) const {
  const Entry& entry = entries_[index];
  Attributes attributes;
  attributes.isDirectory = entry.isDirectory;
  attributes.size = entry.size;
  attributes.modified =
      std::chrono::system_clock::time_point(std::chrono::seconds(entry.modifiedSeconds));
  return attributes;
}

std::optional<Attributes> Listing::find(std::string_view name) const {
  const size_t at = lowerBound(name);
  if (at == size() || this->name(at) != name) return std::nullopt;
  return attributes(at);
}

bool Listing::Builder::add(std::string_view name, const Attributes& attributes) {
  if (!building_.names_.append(name)) return false;
  Entry entry{};
  entry.size = attributes.size;
  entry.isDirectory = attributes.isDirectory;
  entry.modifiedSeconds =
      std::chrono::duration_cast<std::chrono::seconds>(attributes.modified.time_since_epoch())
          .count();
  building_.entries_.push_back(entry);
  return true;
}

std::shared_ptr<const Listing> Listing::Builder::finish() {
  auto listing = std::make_shared<Listing>();
  const PackedNames& names = building_.names_;
  // Stores list in name order: usually there is nothing to sort.
  if (names.sortedAndUnique()) {
    *listing = std::move(building_);
    listing->names_.shrinkToFit();
    listing->entries_.shrink_to_fit();
  } else {
    std::vector<uint32_t> order = names.sortedOrder();
    // Of equal names the last added wins (a blob "x" over the prefix "x/").
    size_t kept = 0;
    for (size_t at = 0; at < order.size(); ++at) {
      if (at + 1 < order.size() && names[order[at]] == names[order[at + 1]]) continue;
      order[kept++] = order[at];
    }
    order.resize(kept);
    listing->names_ = names.picked(order);
    listing->entries_.reserve(order.size());
    for (const uint32_t index : order) listing->entries_.push_back(building_.entries_[index]);
  }
  building_ = Listing();
  return listing;
}

}  // namespace skiff::mount
