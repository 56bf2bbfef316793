#pragma once

// What state a workload object is in, read from its status the way its
// controller reports it: a Job's conditions, a Deployment's rollout counts,
// the Kubeflow operators' conditions, the Spark operator's application state.
// `skiff release --wait` waits on it; `skiff status` prints it.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace skiff::deploy::k8s {

struct WorkloadState {
  // kPending: working, but its pods have not started (the target sets it
  // after looking at them; workloadState never does).
  enum class Phase { kWorking, kPending, kDone, kFailed };
  Phase phase = Phase::kWorking;
  std::string summary;  // "complete", "2/3 ready", "failed: BackoffLimitExceeded: ..."
};

// The state of `object`, a `kind` (from the resource type asked for: a real
// API server leaves kind and apiVersion off the items of a list).
WorkloadState workloadState(const std::string& kind, const nlohmann::json& object);

// Why a pod has not started its containers ("not scheduled: ...",
// "Unschedulable: 0/3 nodes are available: ...", "ErrImagePull: ..."), or
// nothing when it is running or has ended.
std::optional<std::string> podNotStarted(const nlohmann::json& pod);

const char* toString(WorkloadState::Phase phase);

}  // namespace skiff::deploy::k8s
