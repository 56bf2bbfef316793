#include "serve/model_manager.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "common/error.hpp"

namespace skiff::serve {
namespace fs = std::filesystem;
namespace {

std::string readBlob(blob::BlobStore& store, const std::string& name) {
  std::string text;
  store.get(name, [&](const char* data, size_t size) { text.append(data, size); });
  return text;
}

std::string joinVersions(const std::vector<int64_t>& versions) {
  return versions.empty() ? "none" : fmt::format("{}", fmt::join(versions, ", "));
}

}  // namespace

const char* stateName(VersionState state) {
  switch (state) {
    case VersionState::kLoading:
      return "LOADING";
    case VersionState::kAvailable:
      return "AVAILABLE";
    case VersionState::kUnavailable:
      return "UNAVAILABLE";
  }
  return "UNKNOWN";
}

ModelManager::ModelManager(blob::BlobStore& store, std::string prefix, Engine& engine,
                           Metrics& metrics, ManagerOptions options)
    : store_(store),
      prefix_(std::move(prefix)),
      engine_(engine),
      metrics_(metrics),
      options_(std::move(options)) {}

bool ModelManager::poll() {
  std::lock_guard pollLock(pollMutex_);
  std::map<std::string, ListedModel> listing;
  try {
    listing = scanRepository(store_, prefix_);
  } catch (const std::exception& e) {
    spdlog::warn("cannot list the model repository {}: {}", store_.uriOf(prefix_), e.what());
    return false;
  }
  for (const auto& [name, listed] : listing) syncModel(name, listed);
  std::vector<std::string> gone;
  {
    std::lock_guard lock(mutex_);
    for (const auto& entry : models_) {
      if (!listing.count(entry.first)) gone.push_back(entry.first);
    }
  }
  for (const std::string& name : gone) {
    std::vector<int64_t> versions;
    {
      std::lock_guard lock(mutex_);
      for (const auto& version : models_[name].versions) versions.push_back(version.first);
    }
    for (const int64_t version : versions) unload(name, version);
    std::lock_guard lock(mutex_);
    models_.erase(name);
    spdlog::info("model {} left the repository", name);
  }
  std::lock_guard lock(mutex_);
  ready_ = true;
  return true;
}

bool ModelManager::ready() const {
  std::lock_guard lock(mutex_);
  return ready_;
}

ModelConfig ModelManager::readConfig(const std::string& name, const ListedModel& listed) {
  std::lock_guard lock(mutex_);
  Entry& entry = models_[name];
  const std::string etag = listed.config ? listed.config->etag : std::string();
  if (etag == entry.configEtag) return entry.config;
  entry.configEtag = etag;
  entry.configError.clear();
  if (!listed.config) {
    entry.config = ModelConfig{};
    entry.appliedConfigEtag.clear();
    return entry.config;
  }
  try {
    const std::string uri = store_.uriOf(listed.config->name);
    entry.config = parseModelConfig(readBlob(store_, listed.config->name), uri);
    entry.appliedConfigEtag = etag;
  } catch (const std::exception& e) {
    // The previous settings stay; the error shows in the model's status.
    entry.configError = e.what();
    spdlog::warn("{}", e.what());
  }
  return entry.config;
}

void ModelManager::syncModel(const std::string& name, const ListedModel& listed) {
  const ModelConfig config = readConfig(name, listed);
  std::string configEtag;
  {
    std::lock_guard lock(mutex_);
    configEtag = models_[name].appliedConfigEtag;
  }
  std::vector<int64_t> available;
  for (const auto& version : listed.versions) available.push_back(version.first);
  const std::vector<int64_t> selected = config.policy.select(available);
  for (const int64_t version : selected) {
    const blob::BlobProperties& blob = listed.versions.at(version);
    {
      std::lock_guard lock(mutex_);
      auto& versions = models_[name].versions;
      auto known = versions.find(version);
      if (known != versions.end() && known->second.etag == blob.etag &&
          known->second.configEtag == configEtag) {
        continue;
      }
      // A changed file (or config.yaml) of a serving version: the old one
      // serves until the new one loaded; a failed one is retried.
      Tracked& tracked = versions[version];
      if (tracked.state != VersionState::kAvailable) tracked.state = VersionState::kLoading;
    }
    loadVersion(name, version, blob, config, configEtag);
  }
  // Fallback: while fewer versions serve than the policy wants (the selected
  // ones failed), load the next lower versions of the repository.
  for (auto it = listed.versions.rbegin(); it != listed.versions.rend(); ++it) {
    {
      std::lock_guard lock(mutex_);
      const auto& versions = models_[name].versions;
      const auto serving = std::count_if(versions.begin(), versions.end(), [](const auto& entry) {
        return entry.second.state == VersionState::kAvailable;
      });
      if (static_cast<size_t>(serving) >= config.policy.wanted(selected.size())) break;
      if (versions.count(it->first)) continue;
    }
    loadVersion(name, it->first, it->second, config, configEtag);
  }
  // Switch: serve the selected versions that loaded; while fewer than wanted
  // did, the highest of those serving before stay.
  std::vector<int64_t> drop;
  {
    std::lock_guard lock(mutex_);
    auto& versions = models_[name].versions;
    std::set<int64_t> keep;
    for (const int64_t version : selected) {
      if (versions[version].state == VersionState::kAvailable) keep.insert(version);
    }
    for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
      if (keep.size() >= config.policy.wanted(selected.size())) break;
      if (it->second.state == VersionState::kAvailable) keep.insert(it->first);
    }
    // Failed versions stay tracked (with their reason) while they are listed,
    // so an unchanged broken file is not downloaded again on every poll.
    for (const auto& [version, tracked] : versions) {
      if (tracked.state == VersionState::kAvailable ? !keep.count(version)
                                                    : !listed.versions.count(version)) {
        drop.push_back(version);
      }
    }
  }
  for (const int64_t version : drop) unload(name, version);
}

void ModelManager::loadVersion(const std::string& name, int64_t version,
                               const blob::BlobProperties& blob, const ModelConfig& config,
                               const std::string& configEtag) {
  const std::string uri = store_.uriOf(blob.name);
  spdlog::info("loading {} version {} from {}", name, version, uri);
  std::shared_ptr<ModelVersion> loaded;
  std::string reason;
  try {
    const fs::path file = fetch(name, version, blob);
    LoadSettings settings;
    settings.concurrency = config.instances;
    settings.session.intraOpThreads = config.intraOpThreads;
    settings.maxBatchSize = config.maxBatchSize;
    settings.batching = config.batching;
    settings.inputs = config.inputs;
    settings.outputs = config.outputs;
    loaded =
        ModelVersion::load(engine_, name, version, file, settings, metrics_.version(name, version));
  } catch (const Error& e) {
    reason = e.problem() + (e.hint().empty() ? "" : " (" + e.hint() + ")");
  } catch (const std::exception& e) {
    reason = e.what();
  }
  metrics_.countLoad(name, version, loaded != nullptr);
  std::lock_guard lock(mutex_);
  Tracked& tracked = models_[name].versions[version];
  tracked.etag = blob.etag;
  tracked.configEtag = configEtag;
  if (loaded) {
    tracked.state = VersionState::kAvailable;
    tracked.reason.clear();
    tracked.loaded = std::move(loaded);
    spdlog::info("{} version {} is AVAILABLE", name, version);
  } else if (tracked.loaded) {
    tracked.reason = fmt::format(
        "{}: the changed file (or config.yaml) failed to load; the previous one keeps "
        "serving: {}",
        uri, reason);
    spdlog::warn("{} version {}: {}", name, version, tracked.reason);
  } else {
    tracked.state = VersionState::kUnavailable;
    tracked.reason = fmt::format("{}: {}", uri, reason);
    spdlog::warn("{} version {} is UNAVAILABLE: {}", name, version, tracked.reason);
  }
}

fs::path ModelManager::fetch(const std::string& name, int64_t version,
                             const blob::BlobProperties& blob) {
  // Named after the ETag: an unchanged blob is never downloaded twice.
  const fs::path dir = options_.cacheDir / name / std::to_string(version);
  const fs::path file = dir / fmt::format("{:016x}.onnx", std::hash<std::string>{}(blob.etag));
  if (fs::exists(file)) return file;
  fs::create_directories(dir);
  const fs::path partial = fs::path(file).concat(".partial");
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    if (!out) throw Error("cannot write to the model cache", partial.string(), "check --cache-dir");
    store_.get(blob.name, [&](const char* data, size_t size) {
      out.write(data, static_cast<std::streamsize>(size));
    });
    if (!out.flush()) throw Error("cannot write to the model cache", partial.string());
  }
  fs::rename(partial, file);
  return file;
}

void ModelManager::unload(const std::string& name, int64_t version) {
  std::shared_ptr<ModelVersion> loaded;
  {
    std::lock_guard lock(mutex_);
    auto& versions = models_[name].versions;
    auto it = versions.find(version);
    if (it == versions.end()) return;
    loaded = std::move(it->second.loaded);
    versions.erase(it);
  }
  if (loaded) {
    metrics_.countUnload(name, version);
    spdlog::info("{} version {} unloaded", name, version);
  }
  std::error_code ignored;
  fs::remove_all(options_.cacheDir / name / std::to_string(version), ignored);
  // `loaded` goes here; requests still running hold their own references.
}

ModelManager::Lookup ModelManager::find(const std::string& model,
                                        std::optional<int64_t> version) const {
  std::lock_guard lock(mutex_);
  auto entry = models_.find(model);
  if (entry == models_.end()) {
    std::vector<std::string> names;
    for (const auto& known : models_) names.push_back(known.first);
    return {nullptr, 404,
            fmt::format("unknown model '{}' (the repository has: {})", model,
                        names.empty() ? "no model" : fmt::format("{}", fmt::join(names, ", ")))};
  }
  const auto& versions = entry->second.versions;
  std::vector<int64_t> serving;
  for (const auto& [number, tracked] : versions) {
    if (tracked.state == VersionState::kAvailable) serving.push_back(number);
  }
  if (version) {
    auto tracked = versions.find(*version);
    if (tracked == versions.end()) {
      return {nullptr, 404,
              fmt::format("model '{}' has no version {} (serving: {})", model, *version,
                          joinVersions(serving))};
    }
    if (tracked->second.state != VersionState::kAvailable) {
      return {nullptr, 503,
              fmt::format("model '{}' version {} is {}{}", model, *version,
                          stateName(tracked->second.state),
                          tracked->second.reason.empty() ? "" : ": " + tracked->second.reason)};
    }
    return {tracked->second.loaded, 200, {}};
  }
  if (serving.empty()) {
    std::string why = entry->second.configError;
    for (const auto& [number, tracked] : versions) {
      if (!tracked.reason.empty()) why += (why.empty() ? "" : "; ") + tracked.reason;
    }
    return {nullptr, 503,
            fmt::format("model '{}' has no version ready{}", model, why.empty() ? "" : ": " + why)};
  }
  return {versions.at(serving.back()).loaded, 200, {}};
}

ModelManager::Lookup ModelManager::findLabel(const std::string& model,
                                             const std::string& label) const {
  int64_t version = 0;
  {
    std::lock_guard lock(mutex_);
    auto entry = models_.find(model);
    if (entry != models_.end()) {
      const auto& labels = entry->second.config.labels;
      auto named = labels.find(label);
      if (named == labels.end()) {
        std::vector<std::string> names;
        for (const auto& known : labels) names.push_back(known.first);
        return {nullptr, 404,
                fmt::format("model '{}' has no label '{}' (labels: {})", model, label,
                            names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", ")))};
      }
      version = named->second;
    }
  }
  return find(model, version ? std::optional<int64_t>(version) : std::nullopt);
}

std::vector<std::string> ModelManager::models() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> names;
  for (const auto& entry : models_) names.push_back(entry.first);
  return names;
}

std::optional<std::vector<VersionStatus>> ModelManager::status(const std::string& model) const {
  std::lock_guard lock(mutex_);
  auto entry = models_.find(model);
  if (entry == models_.end()) return std::nullopt;
  std::vector<VersionStatus> statuses;
  for (const auto& [number, tracked] : entry->second.versions) {
    statuses.push_back({number, tracked.state, tracked.reason});
  }
  return statuses;
}

std::map<std::string, int> ModelManager::servingCounts() const {
  std::lock_guard lock(mutex_);
  std::map<std::string, int> counts;
  for (const auto& [name, entry] : models_) {
    int& count = counts[name];
    for (const auto& version : entry.versions) {
      if (version.second.state == VersionState::kAvailable) ++count;
    }
  }
  return counts;
}

}  // namespace skiff::serve
