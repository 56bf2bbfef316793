#pragma once

// The version labels of one model and its traffic split. config.yaml gives
// both; the API may set labels and a split too, which win over config.yaml's
// until deleted. What the API sets lives in memory only: config.yaml is the
// durable way. The manager owns one per model and calls it under its lock.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace skiff::serve {

// Where a label's version comes from, for GET /v2/models/{m}/labels.
struct LabelBinding {
  int64_t version = 0;
  bool fromApi = false;
  std::optional<int64_t> configVersion;  // what config.yaml says, when the API overrides it
};

class ModelLabels {
 public:
  using Weights = std::map<std::string, int64_t>;

  // What config.yaml says now (called again on every change of it).
  void configure(std::map<std::string, int64_t> labels, Weights traffic);

  // The version `label` names (the API's, else config.yaml's).
  std::optional<int64_t> version(const std::string& label) const;
  // Label -> version as they resolve now: config.yaml's and the API's.
  std::map<std::string, int64_t> resolved() const;
  std::map<std::string, LabelBinding> bindings() const;
  void set(const std::string& label, int64_t version) { api_[label] = version; }
  // False when the API set no label of that name.
  bool remove(const std::string& label) { return api_.erase(label) > 0; }

  // The split in force: the API's, else config.yaml's (empty: none).
  const Weights& traffic() const { return apiTraffic_ ? *apiTraffic_ : configTraffic_; }
  bool trafficFromApi() const { return apiTraffic_.has_value(); }
  void setTraffic(Weights weights);
  // False when the API set no split.
  bool clearTraffic();

  // The label the next request that names no version goes to: a smooth
  // weighted round robin (nginx's) over the split's labels whose version
  // `serving` accepts, so any window of requests follows the weights closely
  // and labels interleave. Nothing without a split or when none serves.
  std::optional<std::string> pick(const std::function<bool(int64_t)>& serving);

 private:
  std::map<std::string, int64_t> config_;
  std::map<std::string, int64_t> api_;
  Weights configTraffic_;
  std::optional<Weights> apiTraffic_;
  std::map<std::string, int64_t> credit_;  // the round robin's state
};

}  // namespace skiff::serve
