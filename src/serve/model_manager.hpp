#pragma once

// The lifecycle of model versions: on every poll, one listing of the
// repository; new or changed versions are downloaded to the local cache,
// loaded and warmed up before traffic switches to them; superseded versions
// are dropped, and freed once their in-flight requests finish. A version that
// fails to load is UNAVAILABLE with the reason, and the versions that served
// before keep serving.

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "blob/blob_store.hpp"
#include "serve/engine.hpp"
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

struct ManagerOptions {
  std::filesystem::path cacheDir;
};

class ModelManager {
 public:
  // `prefix`: the repository inside `store` (empty or ending in '/').
  ModelManager(blob::BlobStore& store, std::string prefix, Engine& engine, Metrics& metrics,
               ManagerOptions options);

  // Reads the repository once and brings the loaded versions in line with it.
  // Returns false (state unchanged, reason logged) when the listing fails.
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
  // The version config.yaml's `labels` give `label` (404 when it names none).
  Lookup findLabel(const std::string& model, const std::string& label) const;
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

  blob::BlobStore& store_;
  std::string prefix_;
  Engine& engine_;
  Metrics& metrics_;
  ManagerOptions options_;
  std::mutex pollMutex_;  // one poll at a time
  mutable std::mutex mutex_;
  std::map<std::string, Entry> models_;
  bool ready_ = false;
};

}  // namespace skiff::serve
