#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace skiff {

// Edit distance (insertions, deletions, substitutions), for did-you-mean hints.
size_t editDistance(std::string_view a, std::string_view b);

// The candidate closest to `word`, when it is close enough to be a likely typo.
std::optional<std::string> closestMatch(std::string_view word,
                                        const std::vector<std::string>& candidates);

// "a, b or c" for messages that list the accepted values.
std::string joinAlternatives(const std::vector<std::string>& items);

// Parses a duration: a plain number of seconds ("120") or a number with a unit
// suffix ("500ms", "30s", "2m", "1h"). Returns seconds, or nothing when malformed.
std::optional<double> parseDurationSeconds(std::string_view text);

// Parses a byte size: "1024", "512Ki", "4Mi", "10G", "1.5Gi". Returns bytes.
std::optional<uint64_t> parseByteSize(std::string_view text);

}  // namespace skiff
