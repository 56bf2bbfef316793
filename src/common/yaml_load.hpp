#pragma once

// Every YAML document skiff reads goes through here. yaml-cpp expands an
// alias by sharing the anchored node, so a 1 KiB "billion laughs" (nine
// levels of ten aliases each) costs little memory but any walk over it
// visits 10^9 nodes and never ends. These loaders count what aliases and
// merge keys (`<<: *base`) expand to while parsing, before anything walks
// the tree, and refuse a document past the budget at the alias that
// crossed it.

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace skiff {

struct YamlBudget {
  // A skiff.yaml, a kubeconfig or a model config has hundreds of nodes; a
  // generated one thousands.
  size_t maxNodes = 100'000;
  int maxDepth = 64;  // levels below the document's root
};

// Thrown (with the mark of the alias or node that crossed the budget) by
// the loaders below; a YAML::Exception, so callers that report syntax
// errors with their line and column report this one the same way.
class YamlTooLarge : public YAML::Exception {
 public:
  YamlTooLarge(const YAML::Mark& where, const std::string& message, bool aliases)
      : YAML::Exception(where, message), byAliases(aliases) {}

  // Whether aliases (or merge keys) took it past the budget, rather than
  // what is written out: the fix the user needs differs.
  bool byAliases;
};

std::vector<YAML::Node> loadAllYaml(std::string_view text, const YamlBudget& budget = {});
// One document (the first; none is a null node).
YAML::Node loadYaml(std::string_view text, const YamlBudget& budget = {});
YAML::Node loadYamlFile(const std::string& path, const YamlBudget& budget = {});

}  // namespace skiff
