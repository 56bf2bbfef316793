#pragma once

// The model repository layout, as Triton and TF Serving use it:
//   <repo>/<model>/config.yaml            optional, see ModelConfig
//   <repo>/<model>/<version>/model.onnx   numeric version folders
// One flat listing of the repository gives every model, version and ETag.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "blob/blob_store.hpp"
#include "serve/tensor.hpp"

namespace skiff::serve {

inline constexpr const char* kModelFile = "model.onnx";
inline constexpr const char* kConfigFile = "config.yaml";

// Which of the versions in the repository to serve.
struct VersionPolicy {
  enum class Kind { kLatest, kAll, kSpecific };
  Kind kind = Kind::kLatest;
  int64_t latest = 1;
  std::vector<int64_t> specific;

  // The versions to serve out of `available`, highest first.
  std::vector<int64_t> select(const std::vector<int64_t>& available) const;
  // How many versions should serve when some of the selected ones fail.
  size_t wanted(size_t selected) const { return kind == Kind::kLatest ? latest : selected; }
};

// Requests of one version queue and run together, concatenated along dim 0.
struct DynamicBatching {
  std::chrono::microseconds maxQueueDelay{1000};  // the longest a request waits for others
  // Rows that end the wait as soon as a batch holds one of them; empty:
  // max_batch_size. The wait also ends once the largest is reached.
  std::vector<int64_t> preferredBatchSizes;
};

// "2ms", "500us" or a plain number of microseconds, at most 1s: config.yaml's
// max_queue_delay and `skiff serve --max-queue-delay`. Nothing when it is not.
std::optional<std::chrono::microseconds> parseQueueDelay(std::string_view text);

// Batching for the models whose config.yaml sets neither max_batch_size nor
// dynamic_batching (`skiff serve --max-batch-size`, skiff.yaml's `batching`).
// A model that sets either keeps its own settings whole, so `max_batch_size`
// alone turns batching off for that model.
struct DefaultBatching {
  int64_t maxBatchSize = 0;
  DynamicBatching batching;
};

// An entry of `inputs:` or `outputs:`: refines what the ONNX file declares.
struct TensorOverride {
  std::string name;
  std::optional<std::string> datatype;
  std::optional<Shape> shape;
  std::string where;  // file:line:col of the entry, for load errors
};

struct ModelConfig {
  VersionPolicy policy;
  int64_t maxBatchSize = 0;  // 0: no limit
  int instances = 0;         // requests of a version that run at once; 0: no limit
  int intraOpThreads = 0;    // threads of the version's own pool; 0: the shared pool
  std::optional<DynamicBatching> batching;
  std::vector<TensorOverride> inputs;
  std::vector<TensorOverride> outputs;
  std::map<std::string, int64_t> labels;  // `stable: 3`: names for versions the policy serves
  // `{stable: 90, canary: 10}`: requests that name no version go to these
  // labels' versions in proportion to the weights; empty: to the highest.
  std::map<std::string, int64_t> traffic;
};

// Why `name` cannot be a label (a number, or a character URLs need), or
// nothing when it can: the one rule of config.yaml and the label API.
std::optional<std::string> labelNameProblem(const std::string& name);

// The largest weight of a traffic split (weights add up without overflow).
inline constexpr int64_t kMaxTrafficWeight = 1'000'000;

// What is wrong with a traffic split over `labels` (name -> version): the
// message, and the label at fault (empty: the split as a whole). Shared by
// config.yaml and the API so both refuse alike.
struct TrafficProblem {
  std::string message;
  std::string label;
  bool weight = false;  // the label's weight is at fault, not its name
};
std::optional<TrafficProblem> checkTraffic(const std::map<std::string, int64_t>& weights,
                                           const std::map<std::string, int64_t>& labels);

// Parses config.yaml; throws skiff::Error naming `where`, line and column.
ModelConfig parseModelConfig(const std::string& text, const std::string& where);

struct ListedModel {
  std::optional<blob::BlobProperties> config;
  std::map<int64_t, blob::BlobProperties> versions;  // version -> its model.onnx
};

// Lists the repository under `prefix` (empty, or ending in '/') once.
std::map<std::string, ListedModel> scanRepository(blob::BlobStore& store,
                                                  const std::string& prefix);

}  // namespace skiff::serve
