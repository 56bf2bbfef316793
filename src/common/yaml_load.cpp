#include "common/yaml_load.hpp"

#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <unordered_map>

namespace skiff {

namespace {

// Measures the document as its aliases expand it: each anchored node's
// expanded size and height are kept, so an alias adds its node's whole
// expansion in one step, however deep the chain of aliases below it.
class ExpansionCounter : public YAML::EventHandler {
 public:
  explicit ExpansionCounter(const YamlBudget& budget) : budget_(budget) {}

  void OnDocumentStart(const YAML::Mark&) override {
    anchors_.clear();  // anchors are per document
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { leaf(mark, anchor); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                const std::string&) override {
    leaf(mark, anchor);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    const auto it = anchors_.find(anchor);
    const Expansion expansion = it == anchors_.end() ? Expansion{} : it->second;
    add(mark, expansion, true);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, anchor);
  }
  void OnMapEnd() override { close(); }

 private:
  struct Expansion {
    size_t nodes = 1;
    int height = 0;  // levels below the node
  };
  struct Open {
    YAML::anchor_t anchor;
    Expansion expansion;
  };

  void leaf(const YAML::Mark& mark, YAML::anchor_t anchor) {
    add(mark, Expansion{}, false);
    if (anchor != YAML::NullAnchor) anchors_[anchor] = Expansion{};
  }

  // A node (or an alias's expansion) inside the innermost open collection.
  void add(const YAML::Mark& mark, const Expansion& expansion, bool isAlias) {
    total_ += expansion.nodes;
    const int depth = static_cast<int>(open_.size()) + expansion.height;
    if (total_ > budget_.maxNodes) {
      throw YamlTooLarge(
          mark,
          isAlias ? fmt::format("this alias expands the document past {} nodes (aliases that "
                                "refer to aliases grow it exponentially)",
                                budget_.maxNodes)
                  : fmt::format("the document has more than {} nodes", budget_.maxNodes),
          isAlias);
    }
    if (depth > budget_.maxDepth) {
      throw YamlTooLarge(mark,
                         isAlias ? fmt::format("this alias expands the document deeper than {} "
                                               "levels",
                                               budget_.maxDepth)
                                 : fmt::format("nested deeper than {} levels", budget_.maxDepth),
                         isAlias);
    }
    if (!open_.empty()) {
      auto& parent = open_.back().expansion;
      parent.nodes += expansion.nodes;
      parent.height = std::max(parent.height, expansion.height + 1);
    }
  }

  void open(const YAML::Mark& mark, YAML::anchor_t anchor) {
    add(mark, Expansion{}, false);
    // Its own node is counted in the parent already; its children add to both.
    open_.push_back({anchor, Expansion{}});
  }

  void close() {
    if (open_.empty()) return;
    const Open done = open_.back();
    open_.pop_back();
    if (!open_.empty()) {
      auto& parent = open_.back().expansion;
      parent.nodes += done.expansion.nodes - 1;
      parent.height = std::max(parent.height, done.expansion.height + 1);
    }
    if (done.anchor != YAML::NullAnchor) anchors_[done.anchor] = done.expansion;
  }

  YamlBudget budget_;
  size_t total_ = 0;
  std::vector<Open> open_;
  std::unordered_map<YAML::anchor_t, Expansion> anchors_;
};

void checkExpansion(const std::string& text, const YamlBudget& budget) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  ExpansionCounter counter(budget);
  while (parser.HandleNextDocument(counter)) {
  }
}

}  // namespace

std::vector<YAML::Node> loadAllYaml(std::string_view text, const YamlBudget& budget) {
  std::string copy(text);
  checkExpansion(copy, budget);
  return YAML::LoadAll(copy);
}

YAML::Node loadYaml(std::string_view text, const YamlBudget& budget) {
  std::string copy(text);
  checkExpansion(copy, budget);
  return YAML::Load(copy);
}

YAML::Node loadYamlFile(const std::string& path, const YamlBudget& budget) {
  std::ifstream in(path);
  if (!in) throw YAML::BadFile(path);
  std::ostringstream text;
  text << in.rdbuf();
  return loadYaml(text.str(), budget);
}

}  // namespace skiff
