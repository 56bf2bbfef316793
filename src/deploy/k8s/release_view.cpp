#include "deploy/k8s/release_view.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <sstream>

#include "common/error.hpp"
#include "common/text.hpp"
#include "csi/node_plugin.hpp"
#include "deploy/k8s/render.hpp"
#include "deploy/k8s/workload_state.hpp"

namespace skiff::deploy::k8s {

using nlohmann::json;

std::string nameOf(const json& object) {
  return object.value("/metadata/name"_json_pointer, std::string());
}

std::string podSelector(const std::string& app, const json& object) {
  return fmt::format(
      "{},{}={}", appSelector(app), kEntryLabel,
      object.value(json::json_pointer("/metadata/labels") / kEntryLabel, std::string()));
}

namespace {

// The message of the newest event of each pod among the events the field
// selector picks; nothing for a user who may not list events (they still
// see the pods' own state).
std::map<std::string, std::string> newestPodEvents(KubeClient& client,
                                                   const std::string& fieldSelector) {
  json events;
  try {
    events =
        client.list(client.resource("v1", "Event"), "", "involvedObject.kind=Pod," + fieldSelector);
  } catch (const Error&) {
    return {};
  }
  std::map<std::string, std::pair<std::string, std::string>> newest;  // pod -> time, message
  for (const auto& event : events.value("items", json::array())) {
    // lastTimestamp is null in events written by newer clients (eventTime instead).
    json stamp = event.value("lastTimestamp", json());
    if (!stamp.is_string()) stamp = event.value("eventTime", json());
    const std::string time = stamp.is_string() ? stamp.get<std::string>() : std::string();
    const std::string pod = event.value("/involvedObject/name"_json_pointer, std::string());
    auto [found, first] = newest.try_emplace(pod, time, event.value("message", std::string()));
    if (!first && time >= found->second.first) {
      found->second = {time, event.value("message", std::string())};
    }
  }
  std::map<std::string, std::string> messages;
  for (const auto& [pod, event] : newest) messages[pod] = event.second;
  return messages;
}

// The newest FailedMount event of a pod: why its containers are not created
// yet (a volume's driver refused it), which the pod's own status never says.
std::optional<std::string> lastMountFailure(KubeClient& client, const std::string& pod) {
  const auto events = newestPodEvents(client, "involvedObject.name=" + pod + ",reason=FailedMount");
  const auto found = events.find(pod);
  if (found == events.end()) return std::nullopt;
  return found->second;
}

}  // namespace

std::optional<std::string> notStartedPods(KubeClient& client, const std::string& selector,
                                          size_t* pending) {
  std::optional<std::string> first;
  size_t count = 0;
  for (const auto& pod : client.listItems(client.resource("v1", "Pod"), selector)) {
    if (const auto why = podNotStarted(pod)) {
      ++count;
      if (first) continue;
      first = fmt::format("pod {} pending: {}", nameOf(pod), *why);
      if (const auto mount = lastMountFailure(client, nameOf(pod)))
        *first += "; FailedMount: " + *mount;
    }
  }
  if (pending) *pending = count;
  return first;
}

ReleaseView viewRelease(KubeClient& client, const std::string& app) {
  ReleaseView view;
  for (const auto& kind : releaseKinds()) {
    const auto type = client.find(kind.apiVersion, kind.kind);
    if (!type) continue;
    json items;
    try {
      items = client.listItems(*type, appSelector(app));
    } catch (const ApiError& e) {
      // The built-in `view` role reads everything but Secrets.
      if (e.status() != 403) throw;
      view.hidden.push_back(type->plural);
      continue;
    }
    for (const auto& item : items) {
      auto state = workloadState(type->kind, item);
      if (state.phase == WorkloadState::Phase::kWorking) {
        size_t pending = 0;
        if (const auto why = notStartedPods(client, podSelector(app, item), &pending)) {
          state.phase = WorkloadState::Phase::kPending;
          state.summary += fmt::format("; {} pod{} pending: {}", pending, pending == 1 ? "" : "s",
                                       why->substr(why->find(": ") + 2));
        }
      }
      view.objects.push_back(
          {{"kind", type->kind},
           {"name", nameOf(item)},
           {"phase", toString(state.phase)},
           {"state", state.summary},
           {"release",
            item.value(json::json_pointer("/metadata/labels") / kReleaseLabel, std::string())}});
    }
  }
  return view;
}

namespace {

// How a container's last run ended: "exit 137 (OOMKilled)", "exit 0 (Completed)".
std::string lastExitOf(const json& container) {
  for (const char* where : {"/state/terminated", "/lastState/terminated"}) {
    const json ended = container.value(json::json_pointer(where), json());
    if (ended.is_object()) {
      return fmt::format("exit {} ({})", ended.value("exitCode", 0),
                         ended.value("reason", std::string("terminated")));
    }
  }
  return "";
}

}  // namespace

json viewPods(KubeClient& client, const std::string& app) {
  json pods = json::array();
  // A pod that runs on a volume whose skiff mount died (the CSI plugin's
  // event): its own status looks fine.
  const auto mountsDied = newestPodEvents(client, std::string("reason=") + csi::kMountDiedReason);
  for (const auto& pod : client.listItems(client.resource("v1", "Pod"), appSelector(app))) {
    int restarts = 0;
    int ready = 0;
    std::string reason;
    std::string lastExit;
    const json containers = pod.value("/status/containerStatuses"_json_pointer, json::array());
    for (const auto& container : containers) {
      restarts += container.value("restartCount", 0);
      ready += container.value("ready", false) ? 1 : 0;
      const json waiting = container.value("/state/waiting"_json_pointer, json());
      if (reason.empty() && waiting.is_object()) {
        reason = waiting.value("reason", "") + ": " + waiting.value("message", "");
      }
      if (lastExit.empty()) lastExit = lastExitOf(container);
    }
    if (const auto why = podNotStarted(pod); why && reason.empty()) reason = *why;
    if (const auto died = mountsDied.find(nameOf(pod)); died != mountsDied.end() && reason.empty())
      reason = std::string(csi::kMountDiedReason) + ": " + died->second;
    pods.push_back(
        {{"name", nameOf(pod)},
         {"entry", pod.value(json::json_pointer("/metadata/labels") / kEntryLabel, std::string())},
         {"phase", pod.value("/status/phase"_json_pointer, std::string("Unknown"))},
         {"ready", fmt::format("{}/{}", ready,
                               pod.value("/spec/containers"_json_pointer, json::array()).size())},
         {"restarts", restarts},
         {"reason", reason},
         {"lastExit", lastExit},
         {"node", pod.value("/spec/nodeName"_json_pointer, std::string())},
         {"started", pod.value("/status/startTime"_json_pointer, std::string())}});
  }
  std::sort(pods.begin(), pods.end(),
            [](const json& a, const json& b) { return a["name"] < b["name"]; });
  return pods;
}

std::string entryOf(const spec::Spec& spec, const std::string& name) {
  if (spec.jobs.count(name)) return "jobs." + name;
  if (spec.services.count(name)) return "services." + name;
  if (name == "notebook" && spec.notebook) return "notebook";
  std::vector<std::string> names;
  for (const auto& [job, unused] : spec.jobs) names.push_back(job);
  for (const auto& [service, unused] : spec.services) names.push_back(service);
  if (spec.notebook) names.push_back("notebook");
  const auto guess = closestMatch(name, names);
  throw Error(fmt::format("\"{}\" is not a job, service or notebook of skiff.yaml", name), "NAME",
              guess ? "did you mean \"" + *guess + "\"?" : "one of: " + joinAlternatives(names));
}

std::map<std::string, std::vector<std::string>> logTails(KubeClient& client, const spec::Spec& spec,
                                                         const std::string& name, size_t lines) {
  const std::string selector =
      fmt::format("{},{}={}", appSelector(spec.name), kEntryLabel, entryOf(spec, name));
  std::map<std::string, std::vector<std::string>> tails;
  for (const auto& pod : client.listItems(client.resource("v1", "Pod"), selector)) {
    std::string text;
    const std::string container = pod.value("/spec/containers/0/name"_json_pointer, std::string());
    client.streamLogs(
        nameOf(pod), container, false, [&text](std::string_view part) { text.append(part); },
        lines);
    std::vector<std::string>& tail = tails[nameOf(pod)];
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) tail.push_back(line);
  }
  return tails;
}

}  // namespace skiff::deploy::k8s
