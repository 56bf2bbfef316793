#include "serve/repository.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>

#include "common/error.hpp"
#include "common/text.hpp"

namespace skiff::serve {
namespace {

std::optional<int64_t> parseVersion(const std::string& text) {
  int64_t version = 0;
  if (text.empty() || text.size() > 18) return std::nullopt;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (error != std::errc() || end != text.data() + text.size() || version < 0) return std::nullopt;
  return version;
}

std::string at(const std::string& where, const YAML::Node& node) {
  return fmt::format("{}:{}:{}", where, node.Mark().line + 1, node.Mark().column + 1);
}

template <typename T>
T scalar(const YAML::Node& node, const std::string& where, const char* field, const char* kind) {
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    throw Error(fmt::format("{} must be {}", field, kind), at(where, node));
  }
}

int64_t positive(const YAML::Node& node, const std::string& where, const char* field) {
  const auto value = scalar<int64_t>(node, where, field, "a positive integer");
  if (value <= 0) throw Error(fmt::format("{} must be a positive integer", field), at(where, node));
  return value;
}

void checkKeys(const YAML::Node& map, const std::vector<std::string>& known,
               const std::string& where) {
  for (const auto& entry : map) {
    const auto key = entry.first.as<std::string>();
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    const auto guess = closestMatch(key, known);
    throw Error("unknown field '" + key + "'", at(where, entry.first),
                guess ? "did you mean '" + *guess + "'?" : "known: " + joinAlternatives(known));
  }
}

VersionPolicy parsePolicy(const YAML::Node& node, const std::string& where) {
  VersionPolicy policy;
  if (node.IsScalar() && node.as<std::string>() == "all") {
    policy.kind = VersionPolicy::Kind::kAll;
    return policy;
  }
  if (!node.IsMap() || node.size() != 1) {
    throw Error("version_policy must be one of {latest: N}, {all: true} or {specific: [V, ...]}",
                at(where, node));
  }
  checkKeys(node, {"latest", "all", "specific"}, where);
  if (node["latest"]) {
    policy.latest = positive(node["latest"], where, "latest");
  } else if (node["all"]) {
    policy.kind = VersionPolicy::Kind::kAll;
  } else {
    policy.kind = VersionPolicy::Kind::kSpecific;
    const YAML::Node list = node["specific"];
    if (!list.IsSequence() || list.size() == 0) {
      throw Error("specific must be a list of version numbers", at(where, list));
    }
    for (const auto& item : list) policy.specific.push_back(positive(item, where, "a version"));
  }
  return policy;
}

}  // namespace

std::vector<int64_t> VersionPolicy::select(const std::vector<int64_t>& available) const {
  std::vector<int64_t> sorted = available;
  std::sort(sorted.rbegin(), sorted.rend());
  switch (kind) {
    case Kind::kAll:
      return sorted;
    case Kind::kLatest:
      if (sorted.size() > static_cast<size_t>(latest)) sorted.resize(static_cast<size_t>(latest));
      return sorted;
    case Kind::kSpecific:
      std::erase_if(sorted, [&](int64_t version) {
        return std::find(specific.begin(), specific.end(), version) == specific.end();
      });
      return sorted;
  }
  return sorted;
}

ModelConfig parseModelConfig(const std::string& text, const std::string& where) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw Error(e.msg, fmt::format("{}:{}:{}", where, e.mark.line + 1, e.mark.column + 1));
  }
  ModelConfig config;
  if (root.IsNull()) return config;
  if (!root.IsMap()) throw Error("config.yaml must be a map of settings", at(where, root));
  checkKeys(root, {"version_policy", "max_batch_size", "instances"}, where);
  if (root["version_policy"]) config.policy = parsePolicy(root["version_policy"], where);
  if (root["max_batch_size"]) {
    config.maxBatchSize = positive(root["max_batch_size"], where, "max_batch_size");
  }
  if (root["instances"]) {
    config.instances =
        static_cast<int>(std::min<int64_t>(positive(root["instances"], where, "instances"), 256));
  }
  return config;
}

std::map<std::string, ListedModel> scanRepository(blob::BlobStore& store,
                                                  const std::string& prefix) {
  std::map<std::string, ListedModel> models;
  for (blob::BlobProperties& blob : blob::listAll(store, prefix)) {
    const std::string relative = blob.name.substr(prefix.size());
    const size_t slash = relative.find('/');
    if (slash == std::string::npos || slash == 0 || relative[0] == '.') continue;
    const std::string model = relative.substr(0, slash);
    const std::string rest = relative.substr(slash + 1);
    if (rest == kConfigFile) {
      models[model].config = std::move(blob);
      continue;
    }
    const size_t next = rest.find('/');
    if (next == std::string::npos || rest.substr(next + 1) != kModelFile) continue;
    if (const auto version = parseVersion(rest.substr(0, next))) {
      models[model].versions[*version] = std::move(blob);
    }
  }
  return models;
}

}  // namespace skiff::serve
