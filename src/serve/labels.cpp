#include "serve/labels.hpp"

namespace skiff::serve {

void ModelLabels::configure(std::map<std::string, int64_t> labels, Weights traffic) {
  config_ = std::move(labels);
  if (traffic != configTraffic_) credit_.clear();  // a new split starts even
  configTraffic_ = std::move(traffic);
}

std::optional<int64_t> ModelLabels::version(const std::string& label) const {
  for (const auto* labels : {&api_, &config_}) {
    if (const auto named = labels->find(label); named != labels->end()) return named->second;
  }
  return std::nullopt;
}

std::map<std::string, int64_t> ModelLabels::resolved() const {
  std::map<std::string, int64_t> labels = config_;
  for (const auto& [label, version] : api_) labels[label] = version;
  return labels;
}

std::map<std::string, LabelBinding> ModelLabels::bindings() const {
  std::map<std::string, LabelBinding> bindings;
  for (const auto& [label, version] : config_) bindings[label] = {version, false, std::nullopt};
  for (const auto& [label, version] : api_) {
    const auto configured = config_.find(label);
    bindings[label] = {
        version, true,
        configured == config_.end() ? std::nullopt : std::optional<int64_t>(configured->second)};
  }
  return bindings;
}

void ModelLabels::setTraffic(Weights weights) {
  apiTraffic_ = std::move(weights);
  credit_.clear();
}

bool ModelLabels::clearTraffic() {
  if (!apiTraffic_) return false;
  apiTraffic_.reset();
  credit_.clear();
  return true;
}

std::optional<std::string> ModelLabels::pick(const std::function<bool(int64_t)>& serving) {
  // Each eligible label earns its weight; the richest serves and pays the
  // total earned, so over a cycle each serves in proportion to its weight.
  int64_t total = 0;
  const std::string* chosen = nullptr;
  for (const auto& [label, weight] : traffic()) {
    const auto named = version(label);
    if (weight <= 0 || !named || !serving(*named)) continue;
    int64_t& credit = credit_[label];
    credit += weight;
    total += weight;
    if (!chosen || credit > credit_[*chosen]) chosen = &label;
  }
  if (!chosen) return std::nullopt;
  credit_[*chosen] -= total;
  return *chosen;
}

}  // namespace skiff::serve
