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
  const long ready = count(object, "readyReplicas");
  const long updated = count(object, "updatedReplicas");
  const long available = count(object, "availableReplicas");
  const long replicas = count(object, "replicas");
  const bool observed =
      count(object, "observedGeneration") >= object.value("/metadata/generation"_json_pointer, 0L);
  const std::string summary = fmt::format("{}/{} ready", ready, desired);
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

WorkloadState workloadState(const json& object) {
  const std::string kind = object.value("kind", "");
  if (kind == "Job") return job(object);
  if (kind == "Deployment") return deployment(object);
  if (kind == "TFJob" || kind == "PyTorchJob") return trainingJob(object);
  if (kind == "SparkApplication") return sparkApplication(object);
  return {Phase::kDone, "present"};  // Secrets and Services are there once applied
}

const char* toString(WorkloadState::Phase phase) {
  switch (phase) {
    case Phase::kWorking:
      return "working";
    case Phase::kDone:
      return "done";
    case Phase::kFailed:
      return "failed";
  }
  return "";
}

}  // namespace skiff::deploy::k8s
