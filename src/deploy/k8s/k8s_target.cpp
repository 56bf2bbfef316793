// The Kubernetes target: applies the project to the kubeconfig's cluster with
// server-side apply, prunes what left the spec, waits for the workloads, and
// reads their state and logs back.

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "common/error.hpp"
#include "common/progress.hpp"
#include "common/text.hpp"
#include "deploy/k8s/client.hpp"
#include "deploy/k8s/release_view.hpp"
#include "deploy/k8s/render.hpp"
#include "deploy/k8s/service_proxy.hpp"
#include "deploy/k8s/workload_state.hpp"
#include "deploy/secrets.hpp"
#include "deploy/served_models.hpp"
#include "deploy/target.hpp"

namespace skiff::deploy {

namespace {

using k8s::Clock;
using k8s::entryOf;
using k8s::KubeClient;
using k8s::nameOf;
using k8s::notStartedPods;
using k8s::podSelector;
using k8s::ResourceType;
using nlohmann::json;

// How often --wait looks at the pods of what it waits for.
constexpr auto kPodCheckInterval = std::chrono::seconds(2);

KubeClient connect(const TargetOptions& options) {
  return KubeClient(k8s::loadKubeconfig(), options.namespaceName);
}

// Runs `work`; any error it throws comes out with every secret value redacted
// (an API server may quote an object back in its message).
template <typename Work>
int withoutSecrets(const SecretValues& secrets, Work&& work) {
  try {
    return work();
  } catch (const k8s::ApiError& e) {
    throw k8s::ApiError(e.status(), e.reason(), redact(e.problem(), secrets), e.where(), e.hint());
  } catch (const Error& e) {
    throw Error(redact(e.problem(), secrets), e.where(), e.hint());
  }
}

// One line on stderr, redrawn in place while waiting; silent off a terminal.
class StatusLine {
 public:
  void show(const std::string& text) {
    if (enabled_) std::cerr << "\r\033[K" << text << std::flush;
  }
  void clear() {
    if (enabled_) std::cerr << "\r\033[K" << std::flush;
  }

 private:
  bool enabled_ = ProgressBar::stderrIsTerminal();
};

struct Outcome {
  std::string apiVersion;
  std::string kind;
  std::string name;
  std::string action;  // created, configured, replaced, pruned, deleted
  std::string state;   // after --wait
  bool failed = false;
  std::string details;  // after a failed wait: its pods and the last lines of one's log
};

void waitUntilGone(KubeClient& client, const ResourceType& type, const std::string& name) {
  const auto deadline = Clock::now() + std::chrono::minutes(2);
  while (client.get(type, name)) {
    if (Clock::now() > deadline) {
      throw Error(fmt::format("{} {} is still being deleted after 2 minutes", type.kind, name),
                  client.namespaceName(), "check its finalizers, then release again");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// Applies one object. A run-to-completion object whose spec changed is
// replaced: its pod template cannot change in place, and a new spec is a new
// run; with `rerun`, an unchanged one is replaced too.
std::string applyObject(KubeClient& client, const ResourceType& type, const json& object,
                        bool force, bool rerun) {
  const std::string name = nameOf(object);
  bool replaced = false;
  if (k8s::runsToCompletion(type.kind)) {
    const auto pointer = json::json_pointer("/metadata/annotations") / k8s::kSpecHashAnnotation;
    if (const auto existing = client.get(type, name)) {
      if (rerun ||
          existing->value(pointer, std::string()) != object.value(pointer, std::string())) {
        client.remove(type, name);
        waitUntilGone(client, type, name);
        replaced = true;
      }
    }
  }
  const auto applied = client.apply(type, object, force);
  return replaced ? "replaced" : applied.created ? "created" : "configured";
}

// Deletes the objects of `app` that are not in `keep` (kind, name), newest
// kinds first; kinds the cluster does not serve have nothing to delete.
void deleteAllBut(KubeClient& client, const std::string& app,
                  const std::set<std::pair<std::string, std::string>>& keep, const char* action,
                  std::vector<Outcome>& outcomes) {
  for (auto kind = k8s::releaseKinds().rbegin(); kind != k8s::releaseKinds().rend(); ++kind) {
    const auto type = client.find(kind->apiVersion, kind->kind);
    if (!type) continue;
    for (const auto& item : client.listItems(*type, k8s::appSelector(app))) {
      const std::string name = nameOf(item);
      if (keep.count({type->kind, name})) continue;
      client.remove(*type, name);
      outcomes.push_back({type->apiVersion, type->kind, name, action, "", false, ""});
    }
  }
}

// A pod of the workload that cannot get going by itself: a bad image or
// config, or (for services, which never end) a crash loop. Waiting on would
// only run into the timeout.
std::optional<std::string> stuckPod(KubeClient& client, const std::string& selector,
                                    bool crashLoopIsFatal) {
  for (const auto& pod : client.listItems(client.resource("v1", "Pod"), selector)) {
    const json statuses = pod.value("/status/containerStatuses"_json_pointer, json::array());
    for (const auto& container : statuses) {
      const json waiting = container.value("/state/waiting"_json_pointer, json::object());
      const std::string reason = waiting.value("reason", "");
      if (reason == "ImagePullBackOff" || reason == "ErrImagePull" ||
          reason == "InvalidImageName" || reason == "CreateContainerConfigError" ||
          (crashLoopIsFatal && reason == "CrashLoopBackOff")) {
        return fmt::format("pod {}: {}: {}", nameOf(pod), reason, waiting.value("message", ""));
      }
    }
  }
  return std::nullopt;
}

// The pods of a Deployment's current rollout (its newest ReplicaSet): a
// crash-looping pod of the previous one is what the rollout replaces, not a
// failure of it. Empty until the controller has made that ReplicaSet.
std::string currentRolloutPods(KubeClient& client, const json& deployment,
                               const std::string& selector) {
  const auto revisionOf = [](const json& object) {
    return object.value("/metadata/annotations/deployment.kubernetes.io~1revision"_json_pointer,
                        std::string());
  };
  // No ReplicaSets at all (a server without the deployment controller):
  // nothing tells one rollout's pods from another's.
  const auto type = client.find("apps/v1", "ReplicaSet");
  if (!type) return selector;
  const auto replicaSets = client.listItems(*type, selector);
  if (replicaSets.empty()) return selector;
  const std::string revision = revisionOf(deployment);
  if (revision.empty()) return {};
  for (const auto& replicaSet : replicaSets) {
    const std::string hash =
        replicaSet.value("/metadata/labels/pod-template-hash"_json_pointer, std::string());
    if (revisionOf(replicaSet) == revision && !hash.empty()) {
      return selector + ",pod-template-hash=" + hash;
    }
  }
  return {};
}

// How each pod of a failed workload ended ("pod NAME: Failed, exit code 1
// (Error), 0 restarts"), then the last lines of the log of the newest pod
// that ran: what a user reads first to see why.
std::string failedPodsDetails(KubeClient& client, const std::string& selector) {
  constexpr size_t kTailLines = 10;
  auto pods = client.listItems(client.resource("v1", "Pod"), selector);
  std::vector<json> sorted(pods.begin(), pods.end());
  std::sort(sorted.begin(), sorted.end(), [](const json& a, const json& b) {
    return a.value("/metadata/creationTimestamp"_json_pointer, std::string()) <
           b.value("/metadata/creationTimestamp"_json_pointer, std::string());
  });
  std::string text;
  const json* ran = nullptr;
  for (const auto& pod : sorted) {
    std::string line = fmt::format("    pod {}: {}", nameOf(pod),
                                   pod.value("/status/phase"_json_pointer, std::string("?")));
    for (const auto& container :
         pod.value("/status/containerStatuses"_json_pointer, json::array())) {
      for (const char* where : {"/state/terminated", "/lastState/terminated"}) {
        const json ended = container.value(json::json_pointer(where), json());
        if (!ended.is_object()) continue;
        line += fmt::format(", exit code {} ({})", ended.value("exitCode", 0),
                            ended.value("reason", std::string("terminated")));
        ran = &pod;
        break;
      }
      line += fmt::format(", {} restarts", container.value("restartCount", 0));
      // A running pod's container that waits to run again (CrashLoopBackOff);
      // a pending pod says why below.
      const json waiting = container.value("/state/waiting"_json_pointer, json());
      if (waiting.is_object() && waiting.contains("reason") && !k8s::podNotStarted(pod)) {
        line += ", now " + waiting.value("reason", "");
      }
    }
    if (const auto why = k8s::podNotStarted(pod)) line += ": " + *why;
    text += line + "\n";
  }
  // One pod that never ran: the state above already says why it waits.
  if (sorted.size() == 1 && !ran) return {};
  if (sorted.size() > 1) text = fmt::format("    {} pods tried:\n", sorted.size()) + text;
  if (ran) {
    std::string log;
    try {
      client.streamLogs(
          nameOf(*ran), ran->value("/spec/containers/0/name"_json_pointer, std::string()), false,
          [&log](std::string_view part) { log.append(part); }, kTailLines);
    } catch (const Error&) {
      // The log is a help, not the result: a node that cannot serve it leaves it out.
    }
    if (!log.empty()) {
      if (log.back() != '\n') log += '\n';
      text += fmt::format("    last lines of pod {}:\n", nameOf(*ran));
      for (size_t at = 0; at < log.size();) {
        const auto next = log.find('\n', at) + 1;
        text += "      " + log.substr(at, next - at);
        at = next;
      }
    }
  }
  return text;
}

// Waits for each Job-like object to finish and each Deployment to roll out,
// all within `timeoutSeconds`. Returns false when one failed or time ran out.
bool waitForWorkloads(KubeClient& client, const std::string& app, double timeoutSeconds,
                      std::vector<Outcome>& outcomes) {
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::milliseconds(static_cast<long>(timeoutSeconds * 1000));
  StatusLine line;
  bool ok = true;
  for (auto& outcome : outcomes) {
    if (outcome.kind != "Deployment" && !k8s::runsToCompletion(outcome.kind)) continue;
    const auto type = client.resource(outcome.apiVersion, outcome.kind);
    k8s::WorkloadState state{k8s::WorkloadState::Phase::kWorking, "not seen yet"};
    std::string pods;
    json latest;
    auto onEvent = [&](const std::string& event, const json& object) {
      if (event == "DELETED") {
        state = {k8s::WorkloadState::Phase::kFailed, "deleted while waiting"};
        return true;
      }
      state = k8s::workloadState(type.kind, object);
      pods = podSelector(app, object);
      latest = object;
      const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
      line.show(fmt::format("waiting for {}/{}: {} ({:.0f}s)", outcome.kind, outcome.name,
                            state.summary, seconds));
      return state.phase != k8s::WorkloadState::Phase::kWorking;
    };
    // Watch in slices, looking at the pods between them.
    bool finished = false;
    while (!finished && Clock::now() < deadline) {
      finished = client.watch(type, "metadata.name=" + outcome.name,
                              std::min(deadline, Clock::now() + kPodCheckInterval), onEvent);
      if (finished || pods.empty()) continue;
      const bool isDeployment = outcome.kind == "Deployment";
      const std::string watched = isDeployment ? currentRolloutPods(client, latest, pods) : pods;
      if (watched.empty()) continue;
      if (const auto stuck = stuckPod(client, watched, isDeployment)) {
        state = {k8s::WorkloadState::Phase::kFailed, *stuck};
        finished = true;
      }
    }
    line.clear();
    if (!finished) {
      // Say why: most often pods that were never scheduled, or wait for an image.
      std::string why = state.summary;
      if (!pods.empty()) {
        if (const auto pending = notStartedPods(client, pods)) why += "; " + *pending;
      }
      state = {k8s::WorkloadState::Phase::kFailed,
               fmt::format("timed out after {:.0f}s ({})", timeoutSeconds, why)};
    }
    outcome.state = state.summary;
    outcome.failed = state.phase == k8s::WorkloadState::Phase::kFailed;
    if (outcome.failed && !pods.empty()) outcome.details = failedPodsDetails(client, pods);
    ok = ok && !outcome.failed;
  }
  return ok;
}

void printOutcomes(const std::vector<Outcome>& outcomes) {
  size_t width = 0;
  for (const auto& outcome : outcomes) {
    width = std::max(width, outcome.kind.size() + outcome.name.size() + 1);
  }
  for (const auto& outcome : outcomes) {
    std::cout << fmt::format("  {:<{}}  {:<10}  {}\n", outcome.kind + "/" + outcome.name, width,
                             outcome.action, outcome.state);
    std::cout << outcome.details;
  }
}

// The pods matching `selector` (and whose name ends in "-REPLICA"), by name.
std::vector<json> findPods(KubeClient& client, const std::string& selector,
                           const std::string& replica) {
  std::vector<json> pods;
  const std::string suffix = "-" + replica;
  for (const auto& pod : client.listItems(client.resource("v1", "Pod"), selector)) {
    const std::string name = nameOf(pod);
    if (replica.empty() ||
        (name.size() >= suffix.size() &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)) {
      pods.push_back(pod);
    }
  }
  std::sort(pods.begin(), pods.end(),
            [](const json& a, const json& b) { return nameOf(a) < nameOf(b); });
  return pods;
}

// The status of `container` in `pod` (empty when not reported yet).
json containerStatus(const json& pod, const std::string& container) {
  for (const auto& status : pod.value("/status/containerStatuses"_json_pointer, json::array())) {
    if (status.value("name", "") == container) return status;
  }
  return json::object();
}

// After a followed container's log ended: while the pod lives and restarts
// the container (restartPolicy Always or OnFailure), follow each next run,
// saying on stderr why the last one ended.
void followRestarts(KubeClient& client, const json& pod, const std::string& container,
                    const std::function<void(std::string_view)>& onText, std::mutex& output) {
  const std::string podName = nameOf(pod);
  const auto podType = client.resource("v1", "Pod");
  long seen = containerStatus(pod, container).value("restartCount", 0L);
  while (true) {
    const auto current = client.get(podType, podName);
    if (!current) return;  // deleted
    const std::string phase = current->value("/status/phase"_json_pointer, std::string());
    if (phase == "Succeeded" || phase == "Failed") return;  // no more runs
    const json status = containerStatus(*current, container);
    const long restarts = status.value("restartCount", 0L);
    if (restarts <= seen) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    seen = restarts;
    const json last = status.value("/lastState/terminated"_json_pointer, json::object());
    {
      std::lock_guard lock(output);
      std::cerr << fmt::format(
                       "skiff: pod {}: container {} restarted (restart {}; the last run "
                       "ended with exit code {}{}); following the new run\n",
                       podName, container, restarts, last.value("exitCode", -1),
                       last.contains("reason") ? ": " + last.value("reason", "") : "")
                << std::flush;
    }
    client.streamLogs(podName, container, true, onText);
  }
}

// Writes a stream's text line by line, each prefixed (when several pods
// interleave), under one lock so lines never mix.
class LinePrinter {
 public:
  LinePrinter(std::string prefix, std::mutex& mutex) : prefix_(std::move(prefix)), mutex_(mutex) {}
  ~LinePrinter() {
    if (!pending_.empty()) write(pending_ + "\n");
  }
  void add(std::string_view text) {
    pending_.append(text);
    const auto end = pending_.rfind('\n');
    if (end == std::string::npos) return;
    std::string lines = pending_.substr(0, end + 1);
    pending_.erase(0, end + 1);
    if (!prefix_.empty()) {
      std::string prefixed;
      for (size_t at = 0; at < lines.size();) {
        const auto next = lines.find('\n', at) + 1;
        prefixed += prefix_ + lines.substr(at, next - at);
        at = next;
      }
      lines = std::move(prefixed);
    }
    write(lines);
  }

 private:
  void write(const std::string& text) {
    std::lock_guard lock(mutex_);
    std::cout << text << std::flush;
  }
  std::string prefix_;
  std::mutex& mutex_;
  std::string pending_;
};

// Lists in a namespace that does not exist are empty, not errors: say so
// rather than "nothing released".
void requireNamespace(KubeClient& client) {
  if (client.namespaceExists() == false) {
    throw Error(fmt::format("namespace \"{}\" does not exist", client.namespaceName()),
                client.access().server,
                fmt::format("check --namespace, or the namespace of context \"{}\" in {}",
                            client.access().context, client.access().source));
  }
}

class K8sTarget : public Target {
 public:
  bool needsImage() const override { return true; }  // pods run the built image

  int proxy(const spec::Spec& spec, const ProxyOptions& options) override {
    return k8s::runServiceProxy(spec, options);
  }

  int release(const spec::Spec& spec, const ReleaseOptions& options) override {
    const auto secrets = resolveSecrets(spec, options.projectDir, options.secretsFile);
    const auto image = k8s::builtImages(options.projectDir);
    return withoutSecrets(secrets, [&] {
      const auto rendered = k8s::renderRelease(spec, image, secrets, false);
      KubeClient client = connect(options);
      std::cout << fmt::format("release {} of {} to namespace {} (context {}, {})\n", rendered.id,
                               spec.name, client.namespaceName(), client.access().context,
                               client.access().server);
      // Every kind must be served before anything is applied: a missing CRD
      // found halfway would leave half a release behind.
      std::vector<ResourceType> types;
      for (const auto& object : rendered.objects) {
        types.push_back(client.resource(object["apiVersion"], object["kind"]));
      }
      std::vector<Outcome> outcomes;
      std::set<std::pair<std::string, std::string>> applied;
      try {
        for (size_t i = 0; i < rendered.objects.size(); ++i) {
          const auto& object = rendered.objects[i];
          const std::string action =
              applyObject(client, types[i], object, options.forceConflicts, options.rerunJobs);
          outcomes.push_back(
              {object["apiVersion"], object["kind"], nameOf(object), action, "", false, ""});
          applied.insert({object["kind"], nameOf(object)});
        }
      } catch (const Error&) {
        // What was applied before the refusal stays applied: say what it was.
        printOutcomes(outcomes);
        std::cout << fmt::format("release {}: stopped at an error ({} of {} objects applied)\n",
                                 rendered.id, outcomes.size(), rendered.objects.size())
                  << std::flush;
        throw;
      }
      if (options.prune) deleteAllBut(client, spec.name, applied, "pruned", outcomes);
      const bool ok =
          !options.wait || waitForWorkloads(client, spec.name, options.timeoutSeconds, outcomes);
      printOutcomes(outcomes);
      std::cout << fmt::format("release {}: {}\n", rendered.id,
                               ok ? "done" : "failed (see the states above)");
      return ok ? 0 : 1;
    });
  }

  // What each rolled-out skiff serve serves (versions, states, labels),
  // asked through the API server's service proxy: onto its Deployment's row
  // ("models", or "modelsError"), and as the line status prints under it.
  static std::map<std::string, std::string> askModelServers(KubeClient& client,
                                                            const spec::Spec& spec, json& rows) {
    std::map<std::string, std::string> lines;  // Deployment name -> "models: ..."
    for (const auto& [name, service] : spec.services) {
      if (service.kind != spec::ServiceKind::kServe) continue;
      const std::string object = k8s::objectName(spec, name);
      for (auto& row : rows) {
        if (row["kind"] != "Deployment" || row["name"] != object || row["phase"] != "done")
          continue;
        try {
          const auto models = readServedModels(
              [&](const std::string& method, const std::string& path) {
                return client.proxyRequest(object, "http", method, path, "", "application/json");
              },
              "service " + object);
          row["models"] = servedModelsJson(models);
          lines[object] = "models: " + describeServedModels(models);
        } catch (const std::exception& e) {
          row["modelsError"] = e.what();
          lines[object] = std::string("models: ") + e.what();
        }
      }
    }
    return lines;
  }

  int status(const spec::Spec& spec, const StatusOptions& options) override {
    KubeClient client = connect(options);
    auto view = k8s::viewRelease(client, spec.name);
    json& rows = view.objects;
    const auto modelLines = askModelServers(client, spec, rows);
    if (rows.empty()) requireNamespace(client);
    for (const auto& plural : view.hidden) {
      std::cerr << fmt::format(
          "skiff: note: {} not shown: the user may not list them in namespace {}\n", plural,
          client.namespaceName());
    }
    if (options.json) {
      std::cout << rows.dump(2) << "\n";
      return 0;
    }
    std::cout << fmt::format("{} in namespace {} (context {})\n", spec.name, client.namespaceName(),
                             client.access().context);
    if (rows.empty()) std::cout << "  nothing released\n";
    for (const auto& row : rows) {
      std::cout << fmt::format(
          "  {:<40}  {:<8}  {:<30}  release {}\n",
          row["kind"].get<std::string>() + "/" + row["name"].get<std::string>(),
          row["phase"].get<std::string>(), row["state"].get<std::string>(),
          row["release"].get<std::string>());
      const auto line = modelLines.find(row["name"].get<std::string>());
      if (row["kind"] == "Deployment" && line != modelLines.end()) {
        std::cout << "      " << line->second << "\n";
      }
    }
    // Each workload's pods as the kubelet reports them: the real phase,
    // restarts, how the last run ended and why one waits.
    const json pods = rows.empty() ? json::array() : k8s::viewPods(client, spec.name);
    if (!pods.empty()) std::cout << "  pods:\n";
    for (const auto& pod : pods) {
      std::string line =
          fmt::format("    {:<40}  {:<9}  ready {}  restarts {}", pod["name"].get<std::string>(),
                      pod["phase"].get<std::string>(), pod["ready"].get<std::string>(),
                      pod["restarts"].get<int>());
      if (!pod["lastExit"].get<std::string>().empty()) {
        line += "  last " + pod["lastExit"].get<std::string>();
      }
      if (!pod["reason"].get<std::string>().empty()) {
        line += "  " + pod["reason"].get<std::string>();
      }
      std::cout << line << "\n";
    }
    return 0;
  }

  int logs(const spec::Spec& spec, const LogsOptions& options) override {
    std::string selector = k8s::appSelector(spec.name);
    if (!options.name.empty()) {
      selector += fmt::format(",{}={}", k8s::kEntryLabel, entryOf(spec, options.name));
    }
    KubeClient client = connect(options);
    auto pods = findPods(client, selector, options.replica);
    // Right after a release the controllers may not have made the pods yet.
    const auto patience = Clock::now() + std::chrono::seconds(60);
    while (pods.empty() && options.follow && Clock::now() < patience) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      pods = findPods(client, selector, options.replica);
    }
    if (pods.empty()) {
      throw Error(fmt::format("no pods of {}{} yet", spec.name,
                              options.name.empty() ? "" : " " + options.name),
                  "namespace " + client.namespaceName(),
                  "release first (skiff release --target k8s), or check --replica");
    }
    std::mutex output;
    const auto podType = client.resource("v1", "Pod");
    auto stream = [&](const json& pod) {
      const std::string podName = nameOf(pod);
      LinePrinter printer(pods.size() > 1 ? "[" + podName + "] " : "", output);
      const std::string container =
          pod.value("/spec/containers/0/name"_json_pointer, std::string());
      auto onText = [&printer](std::string_view text) { printer.add(text); };
      if (client.streamLogs(podName, container, options.follow, onText)) {
        if (options.follow) followRestarts(client, pod, container, onText, output);
        return;
      }
      // Not started yet: no log. Following waits for the pod to start.
      auto current = client.get(podType, podName);
      const auto why = current ? k8s::podNotStarted(*current) : std::nullopt;
      {
        std::lock_guard lock(output);
        std::cerr << fmt::format("skiff: pod {} has not started{}{}\n", podName,
                                 why ? ": " + *why : std::string(),
                                 options.follow ? "; waiting for it (Ctrl-C to stop)" : "");
      }
      if (!options.follow) return;
      while (true) {
        std::this_thread::sleep_for(std::chrono::seconds(1));
        current = client.get(podType, podName);
        if (!current) {
          throw Error(fmt::format("pod {} was deleted before it started", podName),
                      "namespace " + client.namespaceName(),
                      "look at its job or deployment: skiff status --target k8s");
        }
        if (k8s::podNotStarted(*current)) continue;
        if (client.streamLogs(podName, container, true, onText)) {
          followRestarts(client, *current, container, onText, output);
          return;
        }
      }
    };
    if (!options.follow || pods.size() == 1) {
      for (const auto& pod : pods) stream(pod);
      return 0;
    }
    // Following several pods: one stream each, lines interleaved as they come.
    std::vector<std::thread> threads;
    std::vector<std::exception_ptr> errors(pods.size());
    for (size_t i = 0; i < pods.size(); ++i) {
      threads.emplace_back([&, i] {
        try {
          stream(pods[i]);
        } catch (...) {
          errors[i] = std::current_exception();
        }
      });
    }
    for (auto& thread : threads) thread.join();
    for (const auto& error : errors) {
      if (error) std::rethrow_exception(error);
    }
    return 0;
  }

  int down(const spec::Spec& spec, const DownOptions& options) override {
    KubeClient client = connect(options);
    std::vector<Outcome> outcomes;
    deleteAllBut(client, spec.name, {}, "deleted", outcomes);
    if (outcomes.empty()) requireNamespace(client);
    std::cout << fmt::format("{} in namespace {}: {}\n", spec.name, client.namespaceName(),
                             outcomes.empty() ? "nothing to delete" : "deleted");
    printOutcomes(outcomes);
    return 0;
  }
};

}  // namespace

std::unique_ptr<Target> makeK8sTarget() {
  return std::make_unique<K8sTarget>();
}

}  // namespace skiff::deploy
