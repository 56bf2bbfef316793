#include "spec/yaml_reader.hpp"

#include <fmt/format.h>

#include "common/text.hpp"

namespace skiff::spec {

std::string Diagnostic::format() const {
  std::string out = fmt::format("{}:{}:{}: ", file, line, column);
  if (!path.empty()) out += path + ": ";
  out += problem;
  if (!expected.empty()) out += " (" + expected + ")";
  return out;
}

void Diagnostics::add(const YAML::Mark& mark, std::string path, std::string problem,
                      std::string expected) {
  Diagnostic d;
  d.file = file_;
  d.line = mark.is_null() ? 1 : mark.line + 1;
  d.column = mark.is_null() ? 1 : mark.column + 1;
  d.path = std::move(path);
  d.problem = std::move(problem);
  d.expected = std::move(expected);
  items_.push_back(std::move(d));
}

std::string describeNode(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return fmt::format("\"{}\"", node.Scalar());
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

namespace {

std::string childPath(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

// A quoted scalar ("3") is a string even when it looks like a number.
bool isQuoted(const YAML::Node& node) {
  return node.Tag() == "!";
}

struct Entry {
  YAML::Node key;
  YAML::Node value;
  bool merged;  // from a merge key (`<<: *base`)
};

constexpr int kMaxMergeDepth = 8;

// A mapping's entries, its own first, then those of the mappings it merges
// (`<<: *base` or `<<: [*a, *b]`, YAML's merge key, recursively): yaml-cpp
// keeps `<<` as a plain key. How far aliases expand is bounded when the
// document is loaded (common/yaml_load.hpp).
void collectEntries(const YAML::Node& node, const std::string& path, Diagnostics& diagnostics,
                    bool merged, int depth, std::vector<Entry>& out) {
  std::vector<YAML::Node> merges;
  for (const auto& item : node) {
    if (item.first.IsScalar() && item.first.Scalar() == "<<" && !isQuoted(item.first)) {
      merges.push_back(item.second);
    } else {
      out.push_back({item.first, item.second, merged});
    }
  }
  for (const auto& merge : merges) {
    std::vector<YAML::Node> sources;
    if (merge.IsSequence()) {
      for (const auto& source : merge) sources.push_back(source);
    } else {
      sources.push_back(merge);
    }
    for (const auto& source : sources) {
      if (!source.IsMap()) {
        diagnostics.add(source.Mark(), path, "<< merges mappings, got " + describeNode(source),
                        "<<: *name, or <<: [*a, *b], naming mappings");
      } else if (depth >= kMaxMergeDepth) {
        diagnostics.add(source.Mark(), path,
                        fmt::format("merge keys nested deeper than {} levels", kMaxMergeDepth),
                        "merge fewer mappings into each other");
      } else {
        collectEntries(source, path, diagnostics, true, depth + 1, out);
      }
    }
  }
}

std::vector<Entry> entriesWithMerges(const YAML::Node& node, const std::string& path,
                                     Diagnostics& diagnostics) {
  std::vector<Entry> entries;
  collectEntries(node, path, diagnostics, false, 0, entries);
  return entries;
}

}  // namespace

std::optional<std::string> readScalar(const YAML::Node& node, const std::string& path,
                                      Diagnostics& diagnostics) {
  if (node.IsScalar()) return node.Scalar();
  diagnostics.add(node.Mark(), path, "expected a string, got " + describeNode(node));
  return std::nullopt;
}

std::optional<int64_t> readInteger(const YAML::Node& node, const std::string& path,
                                   Diagnostics& diagnostics, int64_t min, int64_t max) {
  int64_t number = 0;
  if (!node.IsScalar() || isQuoted(node) || !YAML::convert<int64_t>::decode(node, number)) {
    diagnostics.add(node.Mark(), path, "expected a whole number, got " + describeNode(node));
    return std::nullopt;
  }
  if (number < min || number > max) {
    diagnostics.add(node.Mark(), path, fmt::format("{} is out of range", number),
                    fmt::format("expected {} to {}", min, max));
    return std::nullopt;
  }
  return number;
}

MapReader::MapReader(const YAML::Node& node, std::string path, Diagnostics& diagnostics,
                     std::vector<std::string> knownKeys)
    : node_(node), path_(std::move(path)), diagnostics_(diagnostics) {
  isMapping_ = node.IsMap();
  if (!isMapping_) {
    if (node.IsDefined() && !node.IsNull()) {
      diagnostics_.add(node.Mark(), path_, "expected a mapping, got " + describeNode(node),
                       "fields: " + joinAlternatives(knownKeys));
    }
    return;
  }
  for (const auto& [keyNode, value, merged] : entriesWithMerges(node, path_, diagnostics_)) {
    if (!keyNode.IsScalar()) {
      diagnostics_.add(keyNode.Mark(), path_, "a key must be a plain name");
      continue;
    }
    const std::string key = keyNode.Scalar();
    if (keyNodes_.count(key)) {
      // A merged mapping's key is overridden by the mapping's own, as YAML says.
      if (!merged) {
        diagnostics_.add(keyNode.Mark(), childPath(path_, key), "field is given twice", "keep one");
      }
      continue;
    }
    // Extension fields (x-...) hold anchors for merge keys, as in Compose files.
    if (key.rfind("x-", 0) == 0) continue;
    if (std::find(knownKeys.begin(), knownKeys.end(), key) == knownKeys.end()) {
      const auto suggestion = closestMatch(key, knownKeys);
      diagnostics_.add(keyNode.Mark(), childPath(path_, key), "unknown field",
                       suggestion ? fmt::format("did you mean \"{}\"?", *suggestion)
                                  : "fields here: " + joinAlternatives(knownKeys));
      continue;
    }
    keyNodes_.emplace(key, keyNode);
    entries_.emplace_back(key, value);
  }
}

bool MapReader::has(std::string_view key) const {
  return keyNodes_.count(key) > 0;
}

YAML::Node MapReader::node(std::string_view key) const {
  for (const auto& [name, value] : entries_) {
    if (name == key) return value;
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

std::string MapReader::pathOf(std::string_view key) const {
  return childPath(path_, key);
}

YAML::Mark MapReader::markOf(std::string_view key) const {
  const YAML::Node value = node(key);
  if (value.IsDefined() && !value.Mark().is_null()) return value.Mark();
  if (auto it = keyNodes_.find(key); it != keyNodes_.end()) return it->second.Mark();
  return node_.Mark();
}

bool MapReader::require(std::string_view key, std::string expected) const {
  if (has(key)) return true;
  if (!isMapping_ && node_.IsDefined() && !node_.IsNull()) return false;  // already reported
  diagnostics_.add(node_.Mark(), pathOf(key), "missing required field", std::move(expected));
  return false;
}

void MapReader::report(std::string_view key, std::string problem, std::string expected) const {
  diagnostics_.add(markOf(key), pathOf(key), std::move(problem), std::move(expected));
}

std::optional<std::string> MapReader::string(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  return readScalar(node(key), pathOf(key), diagnostics_);
}

std::optional<int64_t> MapReader::integer(std::string_view key, int64_t min, int64_t max) const {
  if (!has(key)) return std::nullopt;
  return readInteger(node(key), pathOf(key), diagnostics_, min, max);
}

std::optional<std::vector<int64_t>> MapReader::integers(std::string_view key, int64_t min,
                                                        int64_t max) const {
  if (!has(key)) return std::nullopt;
  const YAML::Node value = node(key);
  if (!value.IsSequence()) {
    const auto one = readInteger(value, pathOf(key), diagnostics_, min, max);
    if (!one) return std::nullopt;
    return std::vector<int64_t>{*one};
  }
  if (value.size() == 0) {
    report(key, "the list is empty", "one whole number, or a list of them, e.g. [4, 8]");
    return std::nullopt;
  }
  std::vector<int64_t> numbers;
  for (size_t i = 0; i < value.size(); ++i) {
    const auto item =
        readInteger(value[i], fmt::format("{}[{}]", pathOf(key), i), diagnostics_, min, max);
    if (!item) return std::nullopt;
    numbers.push_back(*item);
  }
  return numbers;
}

std::optional<bool> MapReader::boolean(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  const YAML::Node value = node(key);
  bool flag = false;
  if (!value.IsScalar() || isQuoted(value) || !YAML::convert<bool>::decode(value, flag)) {
    report(key, "expected true or false, got " + describeNode(value));
    return std::nullopt;
  }
  return flag;
}

std::optional<double> MapReader::duration(std::string_view key) const {
  const auto text = string(key);
  if (!text) return std::nullopt;
  const auto seconds = parseDurationSeconds(*text);
  if (!seconds) {
    report(key, fmt::format("\"{}\" is not a duration", *text), kDurationRule);
  }
  return seconds;
}

std::optional<std::vector<std::string>> MapReader::stringList(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  const YAML::Node value = node(key);
  if (!value.IsSequence()) {
    report(key, "expected a list of strings, got " + describeNode(value));
    return std::nullopt;
  }
  std::vector<std::string> items;
  bool ok = true;
  for (size_t i = 0; i < value.size(); ++i) {
    auto item = readScalar(value[i], fmt::format("{}[{}]", pathOf(key), i), diagnostics_);
    if (item) {
      items.push_back(std::move(*item));
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return items;
}

std::optional<std::map<std::string, std::string>> MapReader::stringMap(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  const YAML::Node value = node(key);
  if (!value.IsMap()) {
    report(key, "expected a mapping of names to values, got " + describeNode(value));
    return std::nullopt;
  }
  std::map<std::string, std::string> items;
  for (const auto& entry : entriesWithMerges(value, pathOf(key), diagnostics_)) {
    const auto name = readScalar(entry.key, pathOf(key), diagnostics_);
    if (!name) continue;
    const auto text = readScalar(entry.value, pathOf(key) + "." + *name, diagnostics_);
    // The mapping's own entries come first and win over merged ones.
    if (text) items.emplace(*name, *text);
  }
  return items;
}

std::optional<std::string> MapReader::choice(std::string_view key,
                                             const std::vector<std::string>& allowed) const {
  const auto text = string(key);
  if (!text) return std::nullopt;
  if (std::find(allowed.begin(), allowed.end(), *text) != allowed.end()) return text;
  std::string expected = "expected " + joinAlternatives(allowed);
  if (const auto suggestion = closestMatch(*text, allowed)) {
    expected += fmt::format("; did you mean \"{}\"?", *suggestion);
  }
  report(key, fmt::format("\"{}\" is not allowed here", *text), std::move(expected));
  return std::nullopt;
}

}  // namespace skiff::spec
