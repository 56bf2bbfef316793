#include "deploy/local/metrics.hpp"

#include <fmt/format.h>
#include <string.h>

#include <charconv>
#include <cmath>
#include <csignal>

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

std::optional<std::string> parseArtifactLine(std::string_view line) {
  constexpr std::string_view kPrefix = "skiff:artifact ";
  const auto start = line.find_first_not_of(" \t");
  if (start == std::string_view::npos || line.substr(start, kPrefix.size()) != kPrefix) {
    return std::nullopt;
  }
  line.remove_prefix(start + kPrefix.size());
  const auto first = line.find_first_not_of(" \t");
  const auto last = line.find_last_not_of(" \t\r");
  if (first == std::string_view::npos) return std::nullopt;
  return std::string(line.substr(first, last - first + 1));
}

namespace {
// True when `path` is `root` or below it.
bool isUnder(std::string_view path, std::string_view root) {
  while (root.size() > 1 && root.back() == '/') root.remove_suffix(1);
  return path.substr(0, root.size()) == root &&
         (path.size() == root.size() || path[root.size()] == '/' || root == "/");
}
}  // namespace

std::string artifactUri(const std::string& path, const std::vector<StorageRoot>& roots) {
  const StorageRoot* best = nullptr;
  for (const auto& root : roots) {
    if (!root.path.empty() && !root.uri.empty() && isUnder(path, root.path) &&
        (!best || root.path.size() > best->path.size())) {
      best = &root;
    }
  }
  if (best) {
    const std::string_view rest = std::string_view(path).substr(best->path.size());
    std::string uri = best->uri;
    while (!uri.empty() && uri.back() == '/') uri.pop_back();
    if (!rest.empty() && rest.front() != '/') uri += '/';
    return uri.append(rest);
  }
  return !path.empty() && path.front() == '/' ? "file://" + path : "";
}

std::optional<std::pair<std::string, std::string>> modelVersionOf(const std::string& uri,
                                                                  const std::string& repository) {
  std::string root = repository;
  while (!root.empty() && root.back() == '/') root.pop_back();
  if (root.empty() || !isUnder(uri, root) || uri.size() <= root.size() + 1) return std::nullopt;
  const std::string_view rest = std::string_view(uri).substr(root.size() + 1);
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  const std::string_view model = rest.substr(0, slash);
  std::string_view version = rest.substr(slash + 1);
  version = version.substr(0, version.find('/'));
  // A serve's versions are whole numbers: anything else is not a version.
  if (version.empty() || version.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  return std::make_pair(std::string(model), std::string(version));
}

std::optional<int> exitSignal(int code) {
  if (code > 128 && code < 128 + 65) return code - 128;
  return std::nullopt;
}

std::string describeExit(int code) {
  if (code == 0) return "exited with code 0";
  if (const auto signal = exitSignal(code)) {
    const char* name = sigabbrev_np(*signal);
    const std::string shown = name ? fmt::format("SIG{}", name) : fmt::format("signal {}", *signal);
    const char* verb = *signal == SIGKILL                        ? "was killed by"
                       : *signal == SIGTERM || *signal == SIGINT ? "was stopped by"
                                                                 : "crashed with";
    return fmt::format("{} {} (exit code {})", verb, shown, code);
  }
  return fmt::format("exited with code {}", code);
}

}  // namespace skiff::deploy::local
