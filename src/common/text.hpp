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

// The longest duration skiff accepts anywhere (a year). Longer ones overflow
// the clocks they are added to (a timer that fires at once, a busy loop), and
// no poll, cache or wait needs them.
inline constexpr double kMaxDurationSeconds = 365.0 * 24 * 3600;

// Parses a duration: a plain number of seconds ("120") or a number with a unit
// suffix ("500ms", "30s", "2m", "1h"). Returns seconds, or nothing when
// malformed or longer than kMaxDurationSeconds. The one duration parser: the
// command line, skiff.yaml and config files all go through it.
std::optional<double> parseDurationSeconds(std::string_view text);

// What a duration should look like, for messages about one that is not.
inline constexpr const char* kDurationRule =
    "seconds as a number, or a number with ms, s, m or h, e.g. 30s; at most 8760h (a year)";

// Parses a byte size: "1024", "512Ki", "4Mi", "10G", "1.5Gi". Returns bytes.
std::optional<uint64_t> parseByteSize(std::string_view text);

// The time now in UTC, as strftime writes it with `format` (e.g.
// "%Y-%m-%dT%H:%M:%SZ" for RFC 3339).
std::string utcNow(const char* format);

}  // namespace skiff
