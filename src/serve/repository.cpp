#include "serve/repository.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>

#include "common/error.hpp"
#include "common/text.hpp"
#include "common/yaml_load.hpp"

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

std::chrono::microseconds parseDelay(const YAML::Node& node, const std::string& where) {
  const auto delay =
      parseQueueDelay(scalar<std::string>(node, where, "max_queue_delay", "a duration"));
  if (!delay) {
    throw Error(
        "max_queue_delay must be a duration up to 1s, like 2ms or 500us (a plain number "
        "is microseconds)",
        at(where, node));
  }
  return *delay;
}

DynamicBatching parseBatching(const YAML::Node& node, const std::string& where) {
  DynamicBatching batching;
  if (node.IsNull()) return batching;  // `dynamic_batching:` alone: the defaults
  if (!node.IsMap()) {
    throw Error("dynamic_batching must be a map like {max_queue_delay: 2ms}", at(where, node));
  }
  checkKeys(node, {"max_queue_delay", "preferred_batch_size"}, where);
  if (node["max_queue_delay"]) batching.maxQueueDelay = parseDelay(node["max_queue_delay"], where);
  if (const YAML::Node preferred = node["preferred_batch_size"]) {
    // One size (4) or a list ([4, 8]), as Triton's preferred_batch_size.
    if (preferred.IsSequence()) {
      if (preferred.size() == 0) {
        throw Error("preferred_batch_size must list at least one size", at(where, preferred));
      }
      for (const auto& size : preferred) {
        batching.preferredBatchSizes.push_back(positive(size, where, "preferred_batch_size"));
      }
    } else {
      batching.preferredBatchSizes.push_back(positive(preferred, where, "preferred_batch_size"));
    }
    std::sort(batching.preferredBatchSizes.begin(), batching.preferredBatchSizes.end());
  }
  return batching;
}

std::vector<TensorOverride> parseOverrides(const YAML::Node& node, const std::string& where,
                                           const char* field) {
  if (!node.IsSequence()) {
    throw Error(fmt::format("{} must be a list of {{name, datatype, shape}}", field),
                at(where, node));
  }
  std::vector<TensorOverride> overrides;
  for (const auto& item : node) {
    if (!item.IsMap() || !item["name"]) {
      throw Error(fmt::format("each entry of {} needs a name", field), at(where, item));
    }
    checkKeys(item, {"name", "datatype", "shape"}, where);
    TensorOverride entry;
    entry.where = at(where, item);
    entry.name = scalar<std::string>(item["name"], where, "name", "a tensor name");
    if (item["datatype"]) {
      entry.datatype = scalar<std::string>(item["datatype"], where, "datatype", "like FP32");
    }
    if (const YAML::Node shape = item["shape"]) {
      if (!shape.IsSequence()) throw Error("shape must be a list like [-1, 3]", at(where, shape));
      entry.shape.emplace();
      for (const auto& dimension : shape) {
        const auto size = scalar<int64_t>(dimension, where, "a dimension", "an integer");
        if (size < -1)
          throw Error("a dimension must be -1 (any size) or >= 0", at(where, dimension));
        entry.shape->push_back(size);
      }
    }
    overrides.push_back(std::move(entry));
  }
  return overrides;
}

// `traffic: {stable: 90, canary: 10}` over the labels config.yaml gives.
std::map<std::string, int64_t> parseTraffic(const YAML::Node& node,
                                            const std::map<std::string, int64_t>& labels,
                                            const std::string& where) {
  if (!node.IsMap() || node.size() == 0) {
    throw Error("traffic must map labels to weights, like {stable: 90, canary: 10}",
                at(where, node));
  }
  std::map<std::string, int64_t> weights;
  std::map<std::string, YAML::Node> keys, values;
  for (const auto& entry : node) {
    const auto label = scalar<std::string>(entry.first, where, "a traffic label", "a label");
    weights[label] = scalar<int64_t>(entry.second, where, "a traffic weight", "an integer");
    keys[label] = entry.first;
    values[label] = entry.second;
  }
  if (const auto problem = checkTraffic(weights, labels)) {
    const YAML::Node& at_fault = problem->label.empty() ? node
                                 : problem->weight      ? values[problem->label]
                                                        : keys[problem->label];
    throw Error(problem->message, at(where, at_fault),
                problem->label.empty() || problem->weight ? "" : "add it to labels first");
  }
  return weights;
}

}  // namespace

std::optional<std::chrono::microseconds> parseQueueDelay(std::string_view text) {
  int64_t value = -1;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  const std::string_view unit(end, static_cast<size_t>(text.data() + text.size() - end));
  const int64_t scale = unit.empty() || unit == "us" ? 1 : unit == "ms" ? 1000 : 0;
  if (error != std::errc() || value < 0 || scale == 0 || value > 1'000'000 ||
      value * scale > 1'000'000) {
    return std::nullopt;
  }
  return std::chrono::microseconds(value * scale);
}

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
    root = loadYaml(text);
  } catch (const YAML::Exception& e) {
    throw Error(e.msg, fmt::format("{}:{}:{}", where, e.mark.line + 1, e.mark.column + 1));
  }
  ModelConfig config;
  if (root.IsNull()) return config;
  if (!root.IsMap()) throw Error("config.yaml must be a map of settings", at(where, root));
  checkKeys(root,
            {"version_policy", "max_batch_size", "instances", "intra_op_threads",
             "dynamic_batching", "inputs", "outputs", "labels", "traffic"},
            where);
  if (root["version_policy"]) config.policy = parsePolicy(root["version_policy"], where);
  if (root["max_batch_size"]) {
    config.maxBatchSize = positive(root["max_batch_size"], where, "max_batch_size");
  }
  if (root["instances"]) {
    config.instances =
        static_cast<int>(std::min<int64_t>(positive(root["instances"], where, "instances"), 256));
  }
  if (root["intra_op_threads"]) {
    config.intraOpThreads = static_cast<int>(
        std::min<int64_t>(positive(root["intra_op_threads"], where, "intra_op_threads"), 1024));
  }
  if (const YAML::Node batching = root["dynamic_batching"]) {
    if (config.maxBatchSize == 0) {
      throw Error("dynamic_batching needs max_batch_size, the most rows one batch takes",
                  at(where, batching), "add max_batch_size: N");
    }
    config.batching = parseBatching(batching, where);
    const auto& preferred = config.batching->preferredBatchSizes;
    if (!preferred.empty() && preferred.back() > config.maxBatchSize) {
      throw Error("preferred_batch_size is above max_batch_size",
                  at(where, batching["preferred_batch_size"]));
    }
  }
  if (root["inputs"]) config.inputs = parseOverrides(root["inputs"], where, "inputs");
  if (root["outputs"]) config.outputs = parseOverrides(root["outputs"], where, "outputs");
  if (const YAML::Node labels = root["labels"]) {
    if (!labels.IsMap()) {
      throw Error("labels must map names to versions, like {stable: 1, canary: 2}",
                  at(where, labels));
    }
    for (const auto& entry : labels) {
      const auto name = scalar<std::string>(entry.first, where, "a label", "a name");
      if (const auto problem = labelNameProblem(name))
        throw Error(*problem, at(where, entry.first));
      config.labels[name] = positive(entry.second, where, "a label's version");
    }
  }
  if (const YAML::Node traffic = root["traffic"])
    config.traffic = parseTraffic(traffic, config.labels, where);
  return config;
}

std::optional<std::string> labelNameProblem(const std::string& name) {
  if (name.empty() || parseVersion(name) || name.find_first_of("/?#: ") != std::string::npos) {
    return fmt::format(
        "'{}' cannot be a label: a label must be a name (not a number, no '/', '?', '#', ':' or "
        "space)",
        name);
  }
  return std::nullopt;
}

std::optional<TrafficProblem> checkTraffic(const std::map<std::string, int64_t>& weights,
                                           const std::map<std::string, int64_t>& labels) {
  std::vector<std::string> names;
  for (const auto& label : labels) names.push_back(label.first);
  int64_t total = 0;
  for (const auto& [label, weight] : weights) {
    if (!labels.count(label)) {
      return TrafficProblem{
          fmt::format("traffic names '{}', which is no label of the model (labels: {})", label,
                      names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))),
          label};
    }
    if (weight < 0 || weight > kMaxTrafficWeight) {
      return TrafficProblem{fmt::format("the weight of '{}' must be an integer from 0 to {}", label,
                                        kMaxTrafficWeight),
                            label, true};
    }
    total += weight;
  }
  if (total == 0) {
    return TrafficProblem{
        "the weights of traffic must add up to more than 0, like {stable: 90, canary: 10}", {}};
  }
  return std::nullopt;
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
