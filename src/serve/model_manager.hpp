#pragma once

// The lifecycle of model versions: on every poll, one listing of the
// repository; new or changed versions are downloaded to the local cache,
// loaded and warmed up before traffic switches to them; superseded versions
// are dropped, and freed once their in-flight requests finish. A version that
// fails to load is UNAVAILABLE with the reason, and the versions that served
// before keep serving.
//
// Model control, as Triton's: in poll mode (the default) every model of the
// repository is served and polled; in explicit mode only the models named at
// start or loaded by the API are, and a model's versions change only when it
// is loaded again. Errors of the control and label calls are RequestErrors
// with the HTTP status both APIs answer.

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "blob/blob_store.hpp"
#include "serve/engine.hpp"
#include "serve/labels.hpp"
#include "serve/metrics.hpp"
#include "serve/model_version.hpp"
#include "serve/repository.hpp"

namespace skiff::serve {

enum class VersionState { kLoading, kAvailable, kUnavailable };
const char* stateName(VersionState state);

struct VersionStatus {
  int64_t version = 0;
  VersionState state = VersionState::kLoading;
  std::string reason;  // why it is UNAVAILABLE
};

enum class ControlMode { kPoll, kExplicit };

struct ManagerOptions {
  std::filesystem::path cacheDir;
  ControlMode mode = ControlMode::kPoll;
  std::vector<std::string> startModels;     // explicit mode: loaded by the first polls
  double pollSeconds = 30;                  // for messages only: the poller's period
  std::optional<DefaultBatching> batching;  // for the models whose config.yaml sets none
};

// One row of the repository index, as Triton's: a version with its state
// (READY, LOADING, UNAVAILABLE, UNLOADING) and reason, or a model of the
// repository that is not loaded (name only).
struct IndexEntry {
  std::string name;
  std::optional<int64_t> version;
  std::string state;  // empty with no version
  std::string reason;
};

class ModelManager {
 public:
  // `prefix`: the repository inside `store` (empty or ending in '/').
  ModelManager(blob::BlobStore& store, std::string prefix, Engine& engine, Metrics& metrics,
               ManagerOptions options);

  // Reads the repository once and brings the loaded versions in line with it
  // (explicit mode: only the start models not loaded yet). Returns false
  // (state unchanged, reason logged) when the listing fails.
  bool poll();
  // True once a poll has read the repository (even when it holds no model).
  bool ready() const;

  struct Lookup {
    std::shared_ptr<const ModelVersion> version;
    int status = 200;  // 404 unknown, 503 not ready
    std::string message;
  };
  // The named version, or the highest serving one when `version` is empty.
  Lookup find(const std::string& model, std::optional<int64_t> version = {}) const;
  // The version `label` names: the API's label, else config.yaml's (404 when none).
  Lookup findLabel(const std::string& model, const std::string& label) const;
  // Where a request that names no version goes: the traffic split's choice,
  // else the highest serving version.
  Lookup route(const std::string& model);

  // The repository API (explicit mode; 400 in poll mode). Load reads the
  // model from the repository again (new versions, a changed config.yaml)
  // and throws when no version of it serves; unload drops every version
  // (requests running on one finish first). `withParameters`: the call
  // carries Triton's load parameters (a config or files to use instead),
  // which are refused: skiff loads what the repository holds.
  void loadModel(const std::string& model, bool withParameters = false);
  void unloadModel(const std::string& model);
  // Every model of the repository and every loaded one; throws 503 when the
  // repository cannot be listed.
  std::vector<IndexEntry> index(bool readyOnly) const;
  ControlMode mode() const { return options_.mode; }

  // Labels and traffic split by API (in memory; they win over config.yaml's).
  // A label must name a version that serves (409) and not be a number (400).
  void setLabel(const std::string& model, const std::string& label, int64_t version);
  void removeLabel(const std::string& model, const std::string& label);
  std::map<std::string, LabelBinding> labels(const std::string& model) const;
  void setTraffic(const std::string& model, ModelLabels::Weights weights);
  void clearTraffic(const std::string& model);
  struct Traffic {
    ModelLabels::Weights weights;
    bool fromApi = false;
  };
  Traffic traffic(const std::string& model) const;

  std::vector<std::string> models() const;
  // Every version the manager tracks for `model`; nothing when it is unknown.
  std::optional<std::vector<VersionStatus>> status(const std::string& model) const;
  // Model name -> versions serving now (for the metrics).
  std::map<std::string, int> servingCounts() const;

 private:
  struct Tracked {
    VersionState state = VersionState::kLoading;
    std::string reason;
    std::string etag;
    std::string configEtag;  // of the config.yaml it was loaded with
    std::shared_ptr<ModelVersion> loaded;
  };
  struct Entry {
    ModelConfig config;
    std::string configEtag;
    std::string appliedConfigEtag;  // of the config.yaml in force (the last one that parsed)
    std::string configError;
    std::map<int64_t, Tracked> versions;
  };

  void syncModel(const std::string& name, const ListedModel& listed);
  ModelConfig readConfig(const std::string& name, const ListedModel& listed);
  void loadVersion(const std::string& name, int64_t version, const blob::BlobProperties& blob,
                   const ModelConfig& config, const std::string& configEtag);
  std::filesystem::path fetch(const std::string& name, int64_t version,
                              const blob::BlobProperties& blob);
  void unload(const std::string& name, int64_t version);
  void pollStartModels(const std::map<std::string, ListedModel>& listing);
  void dropGoneModels(const std::map<std::string, ListedModel>& listing);
  // With mutex_ held.
  Lookup findLocked(const std::string& model, std::optional<int64_t> version) const;
  std::string unknownModel(const std::string& model) const;
  const Entry& entryOf(const std::string& model) const;  // throws 404
  void refuseWhenPolling(const char* action) const;

  blob::BlobStore& store_;
  std::string prefix_;
  Engine& engine_;
  Metrics& metrics_;
  ManagerOptions options_;
  std::mutex pollMutex_;  // one poll at a time
  mutable std::mutex mutex_;
  std::map<std::string, Entry> models_;
  std::map<std::string, ModelLabels> labels_;  // kept across unloads: the API's live on
  // Versions unloaded by the API: UNLOADING while requests still hold them.
  std::map<std::string, std::map<int64_t, std::weak_ptr<const ModelVersion>>> unloaded_;
  std::set<std::string> pending_;  // explicit mode: start models not in the repository yet
  bool ready_ = false;
};

}  // namespace skiff::serve
