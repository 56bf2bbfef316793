#pragma once

// Reading YAML with located, collected errors: every problem becomes a
// Diagnostic ("file:LINE:COL: field.path: what is wrong (what is expected)")
// and reading goes on, so a user sees all mistakes at once.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace skiff::spec {

struct Diagnostic {
  std::string file;
  int line = 0;    // 1-based
  int column = 0;  // 1-based
  std::string path;
  std::string problem;
  std::string expected;

  std::string format() const;
};

class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  void add(const YAML::Mark& mark, std::string path, std::string problem,
           std::string expected = {});
  const std::vector<Diagnostic>& all() const { return items_; }
  bool empty() const { return items_.empty(); }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::vector<Diagnostic> items_;
};

// "a mapping", "a list", ... for "expected X, got Y" messages.
std::string describeNode(const YAML::Node& node);

// A view of one YAML mapping whose allowed keys are known. Unknown and
// duplicate keys are reported on construction (with a did-you-mean); typed
// getters report wrong types and return nothing for absent or bad values.
class MapReader {
 public:
  MapReader(const YAML::Node& node, std::string path, Diagnostics& diagnostics,
            std::vector<std::string> knownKeys);

  bool isMapping() const { return isMapping_; }
  bool has(std::string_view key) const;
  YAML::Node node(std::string_view key) const;
  std::string pathOf(std::string_view key) const;
  const std::string& path() const { return path_; }
  Diagnostics& diagnostics() const { return diagnostics_; }
  // Where a problem with `key` is reported: the value when present, else the mapping.
  YAML::Mark markOf(std::string_view key) const;

  // Reports a missing key; returns whether it is present.
  bool require(std::string_view key, std::string expected) const;
  void report(std::string_view key, std::string problem, std::string expected = {}) const;

  std::optional<std::string> string(std::string_view key) const;
  std::optional<int64_t> integer(std::string_view key, int64_t min, int64_t max) const;
  // One whole number (4) or a list of them ([4, 8]), each in range.
  std::optional<std::vector<int64_t>> integers(std::string_view key, int64_t min,
                                               int64_t max) const;
  std::optional<bool> boolean(std::string_view key) const;
  std::optional<double> duration(std::string_view key) const;
  std::optional<std::vector<std::string>> stringList(std::string_view key) const;
  std::optional<std::map<std::string, std::string>> stringMap(std::string_view key) const;
  // One of `allowed`, with a did-you-mean for near misses.
  std::optional<std::string> choice(std::string_view key,
                                    const std::vector<std::string>& allowed) const;

  // The keys in document order, with their key nodes (for marks).
  const std::vector<std::pair<std::string, YAML::Node>>& entries() const { return entries_; }

 private:
  YAML::Node node_;
  std::string path_;
  Diagnostics& diagnostics_;
  bool isMapping_ = false;
  std::vector<std::pair<std::string, YAML::Node>> entries_;  // key -> value
  std::map<std::string, YAML::Node, std::less<>> keyNodes_;
};

// Reads `node` as a plain scalar string; reports and returns nothing otherwise.
std::optional<std::string> readScalar(const YAML::Node& node, const std::string& path,
                                      Diagnostics& diagnostics);
// Reads `node` as an unquoted whole number from `min` to `max`; reports and
// returns nothing otherwise.
std::optional<int64_t> readInteger(const YAML::Node& node, const std::string& path,
                                   Diagnostics& diagnostics, int64_t min, int64_t max);

}  // namespace skiff::spec
