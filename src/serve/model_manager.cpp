#include "serve/model_manager.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "common/error.hpp"
#include "serve/request_error.hpp"

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
  if (options_.mode == ControlMode::kExplicit) {
    std::lock_guard lock(mutex_);
    if (ready_ && pending_.empty()) return true;  // nothing to look for
  }
  std::map<std::string, ListedModel> listing;
  try {
    listing = scanRepository(store_, prefix_);
  } catch (const std::exception& e) {
    spdlog::warn("cannot list the model repository {}: {}", store_.uriOf(prefix_), e.what());
    return false;
  }
  if (options_.mode == ControlMode::kExplicit) {
    pollStartModels(listing);
  } else {
    for (const auto& [name, listed] : listing) syncModel(name, listed);
    dropGoneModels(listing);
  }
  std::lock_guard lock(mutex_);
  ready_ = true;
  return true;
}

void ModelManager::pollStartModels(const std::map<std::string, ListedModel>& listing) {
  if (!ready()) {
    std::lock_guard lock(mutex_);
    pending_.insert(options_.startModels.begin(), options_.startModels.end());
  }
  // A start model not written yet is loaded once it appears; after that,
  // only the API loads it again (as Triton: no polling in explicit mode).
  for (const auto& [name, listed] : listing) {
    {
      std::lock_guard lock(mutex_);
      if (!pending_.erase(name)) continue;
    }
    syncModel(name, listed);
  }
  std::lock_guard lock(mutex_);
  for (const std::string& name : pending_) {
    spdlog::warn(
        "--load-model {}: the repository {} has no such model yet (looked again every "
        "poll)",
        name, store_.uriOf(prefix_));
  }
}

void ModelManager::dropGoneModels(const std::map<std::string, ListedModel>& listing) {
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
  } else {
    try {
      const std::string uri = store_.uriOf(listed.config->name);
      entry.config = parseModelConfig(readBlob(store_, listed.config->name), uri);
      entry.appliedConfigEtag = etag;
    } catch (const std::exception& e) {
      // The previous settings stay; the error shows in the model's status.
      entry.configError = e.what();
      spdlog::warn("{}", e.what());
    }
  }
  labels_[name].configure(entry.config.labels, entry.config.traffic);
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
    // config.yaml's batching (max_batch_size, which dynamic_batching needs)
    // wins whole over the server's.
    if (options_.batching && config.maxBatchSize == 0) {
      settings.maxBatchSize = options_.batching->maxBatchSize;
      settings.batching = options_.batching->batching;
      settings.defaultBatching = true;
    }
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

std::string ModelManager::unknownModel(const std::string& model) const {
  std::vector<std::string> names;
  for (const auto& known : models_) names.push_back(known.first);
  const std::string list = names.empty() ? "no model" : fmt::format("{}", fmt::join(names, ", "));
  if (options_.mode == ControlMode::kExplicit) {
    return fmt::format(
        "unknown model '{}' (loaded: {}; load one with POST "
        "/v2/repository/models/{}/load)",
        model, list, model);
  }
  return fmt::format("unknown model '{}' (the repository has: {})", model, list);
}

ModelManager::Lookup ModelManager::find(const std::string& model,
                                        std::optional<int64_t> version) const {
  std::lock_guard lock(mutex_);
  return findLocked(model, version);
}

ModelManager::Lookup ModelManager::findLocked(const std::string& model,
                                              std::optional<int64_t> version) const {
  auto entry = models_.find(model);
  if (entry == models_.end()) return {nullptr, 404, unknownModel(model)};
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
  std::lock_guard lock(mutex_);
  if (!models_.count(model)) return findLocked(model, std::nullopt);
  const auto labels = labels_.find(model);
  const auto version = labels == labels_.end() ? std::nullopt : labels->second.version(label);
  if (!version) {
    std::vector<std::string> names;
    if (labels != labels_.end()) {
      for (const auto& known : labels->second.resolved()) names.push_back(known.first);
    }
    return {nullptr, 404,
            fmt::format("model '{}' has no label '{}' (labels: {})", model, label,
                        names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", ")))};
  }
  return findLocked(model, version);
}

ModelManager::Lookup ModelManager::route(const std::string& model) {
  std::lock_guard lock(mutex_);
  const auto entry = models_.find(model);
  const auto labels = labels_.find(model);
  if (entry == models_.end() || labels == labels_.end()) return findLocked(model, std::nullopt);
  const auto& versions = entry->second.versions;
  const auto label = labels->second.pick([&](int64_t version) {
    const auto tracked = versions.find(version);
    return tracked != versions.end() && tracked->second.state == VersionState::kAvailable;
  });
  // No split, or none of its labels serves: the highest version, as without one.
  return findLocked(model, label ? labels->second.version(*label) : std::nullopt);
}

void ModelManager::refuseWhenPolling(const char* action) const {
  if (options_.mode == ControlMode::kExplicit) return;
  throw RequestError(
      400, fmt::format("cannot {}: explicit model load / unload is not allowed if polling is "
                       "enabled (this server polls the repository every {}s; start skiff serve "
                       "with --model-control-mode explicit to load and unload models by API)",
                       action, options_.pollSeconds));
}

void ModelManager::loadModel(const std::string& model, bool withParameters) {
  refuseWhenPolling(fmt::format("load model '{}'", model).c_str());
  if (withParameters) {
    throw RequestError(400, fmt::format("cannot load model '{}' with parameters: skiff loads the "
                                        "model as the repository has it (write its config.yaml "
                                        "there instead)",
                                        model));
  }
  std::lock_guard pollLock(pollMutex_);
  std::map<std::string, ListedModel> listing;
  try {
    listing = scanRepository(store_, prefix_);
  } catch (const std::exception& e) {
    throw RequestError(503, fmt::format("cannot load model '{}': cannot list the repository {}: {}",
                                        model, store_.uriOf(prefix_), e.what()));
  }
  const auto listed = listing.find(model);
  if (listed == listing.end()) {
    std::vector<std::string> names;
    for (const auto& known : listing) names.push_back(known.first);
    throw RequestError(
        404, fmt::format("cannot load model '{}': the repository {} has no such model (it has: {})",
                         model, store_.uriOf(prefix_),
                         names.empty() ? "no model" : fmt::format("{}", fmt::join(names, ", "))));
  }
  {
    std::lock_guard lock(mutex_);
    pending_.erase(model);
    unloaded_.erase(model);
  }
  syncModel(model, listed->second);
  const Lookup lookup = find(model);
  if (!lookup.version) {
    throw RequestError(400, fmt::format("failed to load model '{}': {}", model, lookup.message));
  }
}

void ModelManager::unloadModel(const std::string& model) {
  refuseWhenPolling(fmt::format("unload model '{}'", model).c_str());
  std::lock_guard pollLock(pollMutex_);
  std::map<int64_t, std::weak_ptr<const ModelVersion>> dropped;
  {
    std::lock_guard lock(mutex_);
    pending_.erase(model);
    const auto entry = models_.find(model);
    if (entry == models_.end()) throw RequestError(404, "cannot unload: " + unknownModel(model));
    for (const auto& [version, tracked] : entry->second.versions) dropped[version] = tracked.loaded;
  }
  for (const auto& version : dropped) unload(model, version.first);
  std::lock_guard lock(mutex_);
  models_.erase(model);
  unloaded_[model] = std::move(dropped);
  spdlog::info("model {} unloaded by the API", model);
}

std::vector<IndexEntry> ModelManager::index(bool readyOnly) const {
  std::map<std::string, ListedModel> listing;
  try {
    listing = scanRepository(store_, prefix_);
  } catch (const std::exception& e) {
    throw RequestError(503, fmt::format("cannot list the model repository {}: {}",
                                        store_.uriOf(prefix_), e.what()));
  }
  std::lock_guard lock(mutex_);
  std::set<std::string> names;
  for (const auto& entry : listing) names.insert(entry.first);
  for (const auto& entry : models_) names.insert(entry.first);
  for (const auto& entry : unloaded_) names.insert(entry.first);
  std::vector<IndexEntry> rows;
  for (const std::string& name : names) {
    const auto entry = models_.find(name);
    if (entry != models_.end() && !entry->second.versions.empty()) {
      for (const auto& [version, tracked] : entry->second.versions) {
        // Triton's names: READY rather than TF Serving's AVAILABLE.
        const bool ready = tracked.state == VersionState::kAvailable;
        rows.push_back({name, version, ready ? "READY" : stateName(tracked.state), tracked.reason});
      }
    } else if (const auto gone = unloaded_.find(name);
               entry == models_.end() && gone != unloaded_.end() && !gone->second.empty()) {
      for (const auto& [version, held] : gone->second) {
        rows.push_back({name, version, held.expired() ? "UNAVAILABLE" : "UNLOADING", "unloaded"});
      }
    } else {
      rows.push_back({name, std::nullopt, {}, {}});
    }
  }
  if (readyOnly) std::erase_if(rows, [](const IndexEntry& row) { return row.state != "READY"; });
  return rows;
}

const ModelManager::Entry& ModelManager::entryOf(const std::string& model) const {
  const auto entry = models_.find(model);
  if (entry == models_.end()) throw RequestError(404, unknownModel(model));
  return entry->second;
}

void ModelManager::setLabel(const std::string& model, const std::string& label, int64_t version) {
  if (const auto problem = labelNameProblem(label)) throw RequestError(400, *problem);
  std::lock_guard lock(mutex_);
  entryOf(model);
  // A label must name a version that serves, as in config.yaml.
  const Lookup lookup = findLocked(model, version);
  if (!lookup.version) {
    throw RequestError(
        409, fmt::format("cannot point label '{}' at version {}: {} (a label must name a version "
                         "the version policy serves: see version_policy in config.yaml)",
                         label, version, lookup.message));
  }
  labels_[model].set(label, version);
  spdlog::info("label {} of {} set to version {} by the API", label, model, version);
}

void ModelManager::removeLabel(const std::string& model, const std::string& label) {
  std::lock_guard lock(mutex_);
  entryOf(model);
  ModelLabels& labels = labels_[model];
  const auto bindings = labels.bindings();
  const auto bound = bindings.find(label);
  if (bound == bindings.end() || !bound->second.fromApi) {
    throw RequestError(
        404, fmt::format("model '{}' has no label '{}' set by the API{}", model, label,
                         bound == bindings.end() ? "" : " (it is config.yaml's: change it there)"));
  }
  if (labels.traffic().count(label) && !bound->second.configVersion) {
    throw RequestError(409, fmt::format("cannot delete label '{}' of model '{}': its traffic "
                                        "split sends requests to it (change the split first: "
                                        "PUT or DELETE /v2/models/{}/traffic)",
                                        label, model, model));
  }
  labels.remove(label);
  spdlog::info("label {} of {} deleted by the API", label, model);
}

std::map<std::string, LabelBinding> ModelManager::labels(const std::string& model) const {
  std::lock_guard lock(mutex_);
  entryOf(model);
  const auto labels = labels_.find(model);
  return labels == labels_.end() ? std::map<std::string, LabelBinding>{}
                                 : labels->second.bindings();
}

void ModelManager::setTraffic(const std::string& model, ModelLabels::Weights weights) {
  std::lock_guard lock(mutex_);
  entryOf(model);
  ModelLabels& labels = labels_[model];
  if (const auto problem = checkTraffic(weights, labels.resolved())) {
    throw RequestError(400, fmt::format("model '{}': {}", model, problem->message));
  }
  labels.setTraffic(std::move(weights));
  spdlog::info("traffic split of {} set by the API", model);
}

void ModelManager::clearTraffic(const std::string& model) {
  std::lock_guard lock(mutex_);
  entryOf(model);
  if (!labels_[model].clearTraffic()) {
    throw RequestError(
        404, fmt::format("model '{}' has no traffic split set by the API (config.yaml's traffic, "
                         "if any, changes in config.yaml)",
                         model));
  }
}

ModelManager::Traffic ModelManager::traffic(const std::string& model) const {
  std::lock_guard lock(mutex_);
  entryOf(model);
  const auto labels = labels_.find(model);
  if (labels == labels_.end()) return {};
  return {labels->second.traffic(), labels->second.trafficFromApi()};
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
