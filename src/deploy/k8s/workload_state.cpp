#include "deploy/k8s/workload_state.hpp"

#include <fmt/format.h>

#include <optional>

namespace skiff::deploy::k8s {

using nlohmann::json;
using Phase = WorkloadState::Phase;

namespace {

// The condition of `type` when its status is "True".
std::optional<json> trueCondition(const json& object, const std::string& type) {
  const json conditions = object.value("/status/conditions"_json_pointer, json::array());
  for (const auto& condition : conditions) {
    if (condition.value("type", "") == type && condition.value("status", "") == "True") {
      return condition;
    }
  }
  return std::nullopt;
}

std::string failure(const json& condition) {
  std::string text = "failed";
  const std::string reason = condition.value("reason", "");
  const std::string message = condition.value("message", "");
  if (!reason.empty()) text += ": " + reason;
  if (!message.empty()) text += ": " + message;
  return text;
}

long count(const json& object, const char* field) {
  return object.contains("status") ? object["status"].value(field, 0L) : 0L;
}

WorkloadState job(const json& object) {
  if (const auto failed = trueCondition(object, "Failed"))
    return {Phase::kFailed, failure(*failed)};
  if (trueCondition(object, "Complete")) {
    return {Phase::kDone, fmt::format("complete ({} succeeded)", count(object, "succeeded"))};
  }
  return {Phase::kWorking, fmt::format("running ({} active, {} failed)", count(object, "active"),
                                       count(object, "failed"))};
}

WorkloadState deployment(const json& object) {
  const json conditions = object.value("/status/conditions"_json_pointer, json::array());
  for (const auto& condition : conditions) {
    if (condition.value("type", "") == "Progressing" &&
        condition.value("reason", "") == "ProgressDeadlineExceeded") {
      return {Phase::kFailed, failure(condition)};
    }
  }
  const long desired = object.value("/spec/replicas"_json_pointer, 1L);
  // Ready is what the rollout counts: available replicas (ready for
  // minReadySeconds), as `kubectl rollout status` does.
  const long updated = count(object, "updatedReplicas");
  const long available = count(object, "availableReplicas");
  const long replicas = count(object, "replicas");
  const bool observed =
      count(object, "observedGeneration") >= object.value("/metadata/generation"_json_pointer, 0L);
  const std::string summary = fmt::format("{}/{} ready", available, desired);
  if (observed && updated == desired && replicas == desired && available == desired) {
    return {Phase::kDone, summary};
  }
  return {Phase::kWorking, fmt::format("{}, {} updated", summary, updated)};
}

// TFJob and PyTorchJob: the training operator's Created/Running/Succeeded/Failed conditions.
WorkloadState trainingJob(const json& object) {
  if (const auto failed = trueCondition(object, "Failed"))
    return {Phase::kFailed, failure(*failed)};
  if (trueCondition(object, "Succeeded")) return {Phase::kDone, "succeeded"};
  return {Phase::kWorking, trueCondition(object, "Running") ? "running" : "created"};
}

WorkloadState sparkApplication(const json& object) {
  const json state = object.value("/status/applicationState"_json_pointer, json::object());
  const std::string name = state.value("state", "");
  if (name == "COMPLETED") return {Phase::kDone, "completed"};
  if (name == "FAILED" || name == "SUBMISSION_FAILED") {
    const std::string message = state.value("errorMessage", "");
    return {Phase::kFailed, "failed: " + name + (message.empty() ? "" : ": " + message)};
  }
  return {Phase::kWorking, name.empty() ? "submitted" : name};
}

}  // namespace

WorkloadState workloadState(const std::string& kind, const json& object) {
  if (kind == "Job") return job(object);
  if (kind == "Deployment") return deployment(object);
  if (kind == "TFJob" || kind == "PyTorchJob") return trainingJob(object);
  if (kind == "SparkApplication") return sparkApplication(object);
  return {Phase::kDone, "present"};  // Secrets and Services are there once applied
}

std::optional<std::string> podNotStarted(const json& pod) {
  if (pod.value("/status/phase"_json_pointer, std::string("Pending")) != "Pending") {
    return std::nullopt;
  }
  // A container the kubelet cannot start: its image, its config.
  for (const auto& container : pod.value("/status/containerStatuses"_json_pointer, json::array())) {
    const json waiting = container.value("/state/waiting"_json_pointer, json::object());
    const std::string reason = waiting.value("reason", "");
    if (!reason.empty()) {
      const std::string message = waiting.value("message", "");
      return message.empty() ? reason : reason + ": " + message;
    }
  }
  for (const auto& condition : pod.value("/status/conditions"_json_pointer, json::array())) {
    if (condition.value("type", "") == "PodScheduled" && condition.value("status", "") == "False") {
      // "Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
      const std::string reason = condition.value("reason", "not scheduled");
      const std::string message = condition.value("message", "");
      return message.empty() ? reason : reason + ": " + message;
    }
  }
  if (pod.value("/spec/nodeName"_json_pointer, std::string()).empty()) {
    return std::string(
        "not scheduled: no node took it (does the cluster run a scheduler, and have a node "
        "with room for its requests?)");
  }
  return std::string("Pending: its containers are being created");
}

const char* toString(WorkloadState::Phase phase) {
  switch (phase) {
    case Phase::kWorking:
      return "working";
    case Phase::kPending:
      return "pending";
    case Phase::kDone:
      return "done";
    case Phase::kFailed:
      return "failed";
  }
  return "";
}

}  // namespace skiff::deploy::k8s
