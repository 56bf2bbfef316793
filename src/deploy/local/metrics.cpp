#include "deploy/local/metrics.hpp"

#include <charconv>
#include <cmath>

namespace skiff::deploy::local {

namespace {

template <typename Number>
std::optional<Number> parseNumber(std::string_view text) {
  Number value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

std::vector<ReportedMetric> parseMetricLine(std::string_view line) {
  constexpr std::string_view kPrefix = "skiff:metric ";
  const auto start = line.find_first_not_of(" \t");
  if (start == std::string_view::npos || line.substr(start, kPrefix.size()) != kPrefix) return {};
  line.remove_prefix(start + kPrefix.size());
  std::vector<ReportedMetric> metrics;
  std::optional<int64_t> step;
  while (!line.empty()) {
    const auto end = line.find_first_of(" \t\r");
    const std::string_view token = line.substr(0, end);
    line.remove_prefix(end == std::string_view::npos ? line.size() : end + 1);
    if (token.empty()) continue;
    const auto equals = token.find('=');
    if (equals == std::string_view::npos || equals == 0) return {};
    const auto name = token.substr(0, equals);
    const auto value = token.substr(equals + 1);
    if (name == "step") {
      step = parseNumber<int64_t>(value);
      if (!step) return {};
      continue;
    }
    const auto number = parseNumber<double>(value);
    if (!number || !std::isfinite(*number)) return {};
    metrics.push_back({std::string(name), *number, std::nullopt});
  }
  for (auto& metric : metrics) metric.step = step;
  return metrics;
}

}  // namespace skiff::deploy::local
