#pragma once

// A project's release as the cluster has it, as data: its objects with their
// phases, its pods with why they are not running, and their log tails.
// `skiff status --target k8s` prints it; `skiff dashboard --target k8s`
// shows it.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "deploy/k8s/client.hpp"
#include "spec/spec.hpp"

namespace skiff::deploy::k8s {

std::string nameOf(const nlohmann::json& object);

// The label selector of the pods of the spec entry that made `object`.
std::string podSelector(const std::string& app, const nlohmann::json& object);

// Why the pods matching `selector` have not started: "pod NAME pending:
// not scheduled: ..." for the first one (and how many in `pending`);
// nothing when none is waiting.
std::optional<std::string> notStartedPods(KubeClient& client, const std::string& selector,
                                          size_t* pending = nullptr);

struct ReleaseView {
  // {kind, name, phase, state, release} per object, in apply order.
  nlohmann::json objects = nlohmann::json::array();
  std::vector<std::string> hidden;  // plurals the user may not list (the `view` role: Secrets)
};
ReleaseView viewRelease(KubeClient& client, const std::string& app);

// Every pod of `app`, by name: {name, entry, phase, ready, restarts, reason,
// lastExit, node, started}. `reason` says why it is not running (pending,
// waiting, crash looping); `lastExit` how its last container run ended.
nlohmann::json viewPods(KubeClient& client, const std::string& app);

// The label value of the spec entry NAME (a job, service or "notebook");
// an Error listing the names (with a suggestion) when there is none.
std::string entryOf(const spec::Spec& spec, const std::string& name);

// The last `lines` lines of the log of each pod of entry NAME, by pod name;
// a pod that has not started has none (and says why in viewPods).
std::map<std::string, std::vector<std::string>> logTails(KubeClient& client, const spec::Spec& spec,
                                                         const std::string& name, size_t lines);

}  // namespace skiff::deploy::k8s
