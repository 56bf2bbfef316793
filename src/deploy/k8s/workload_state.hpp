#pragma once

// What state a workload object is in, read from its status the way its
// controller reports it: a Job's conditions, a Deployment's rollout counts,
// the Kubeflow operators' conditions, the Spark operator's application state.
// `skiff release --wait` waits on it; `skiff status` prints it.

#include <nlohmann/json.hpp>
#include <string>

namespace skiff::deploy::k8s {

struct WorkloadState {
  enum class Phase { kWorking, kDone, kFailed };
  Phase phase = Phase::kWorking;
  std::string summary;  // "complete", "2/3 ready", "failed: BackoffLimitExceeded: ..."
};

WorkloadState workloadState(const nlohmann::json& object);

const char* toString(WorkloadState::Phase phase);

}  // namespace skiff::deploy::k8s
