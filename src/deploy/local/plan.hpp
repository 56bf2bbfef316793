#pragma once

// What the local target runs for a spec: the mounts, and for every job,
// service and the notebook the processes with their argument vectors,
// environments and restart rules, already wrapped in the sandbox. The CLI
// makes the plan (it has the spec and the secrets); the supervisor carries
// it out. It travels between them as JSON over a private socket, because it
// holds secret values.

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "deploy/local/gpus.hpp"
#include "deploy/secrets.hpp"
#include "spec/spec.hpp"

namespace skiff::deploy::local {

struct MountPlan {
  std::string name;
  std::string uri;         // blob: mounted with `skiff mount`
  std::string mountpoint;  // on this machine: DIR/.skiff/mounts/NAME
  std::string mountPath;   // where jobs see it
  bool readOnly = false;
  double cacheTimeoutSeconds = 120;
  std::map<std::string, std::string> env;  // credentials for the mount process
  std::vector<std::string> argv;           // the `skiff mount ... --foreground` command
};

struct ProcessPlan {
  std::string replica;  // "main", "chief-0", "worker-1", ...
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  std::string workingDir;
  // GPUs it needs (resources.gpu): leased when it starts, released when it
  // ends; a sandboxed process gets their device nodes bound in then.
  int gpus = 0;
  bool sandboxed = false;
};

struct UnitPlan {
  std::string name;
  std::string kind;      // job, tfjob, pytorchjob, spark, service, serve, notebook
  bool service = false;  // services run until `skiff down` and are restarted when they exit
  std::vector<std::string> mounts;  // MountPlan names this unit needs
  std::vector<ProcessPlan> processes;
  std::string successReplica;  // jobs: the replica whose success ends the job
  int backoffLimit = 0;        // jobs: restarts allowed after failures
  int port = 0;                // services: where they listen
  std::string readyPath;       // services: HTTP path that answers 200 when ready; empty: TCP
  std::string endpoint;        // services: what to print
  std::string loginToken;      // notebook: its login token (kept out of the state database)
  std::string error;           // it cannot run here: the run fails at once with this
  std::string configHash;      // an unchanged service keeps running across releases
  // What the run history records of it (state.hpp RunRecord::params): the
  // command, env names (never values), secret names, image, git commit.
  nlohmann::json params = nlohmann::json::object();
};

struct LocalPlan {
  std::string projectDir;
  std::vector<MountPlan> mounts;
  std::vector<UnitPlan> units;
  std::vector<std::string> secretValues;  // redacted from every log the supervisor writes
  std::vector<std::string> warnings;      // for the user, printed by the CLI
  // serve name -> its model repository URI: an artifact a job writes there
  // is a model version, linked to the run that wrote it.
  std::map<std::string, std::string> modelRepositories;
  // How many runs of each job or service the history keeps (SKIFF_KEEP_RUNS).
  int keepRuns = 50;
  GpuSettings gpus;  // where the supervisor finds and leases GPUs
};

// The history's bound: SKIFF_KEEP_RUNS (1 to 100000), 50 without it; an
// Error for anything else.
int keepRunsSetting();

struct PlanOptions {
  std::string skiffExe;  // this binary, for `skiff mount` and `skiff serve`
  bool sandbox = true;   // wrap job and service commands in bubblewrap when it is installed
  GpuSettings gpus;
};

// The mounts of `plan` named in `names` (a unit's mounts), in that order.
std::vector<const MountPlan*> mountsNamed(const LocalPlan& plan,
                                          const std::vector<std::string>& names);

LocalPlan planRelease(const spec::Spec& spec, const std::filesystem::path& projectDir,
                      const SecretValues& secrets, const PlanOptions& options);

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(MountPlan, name, uri, mountpoint, mountPath, readOnly,
                                   cacheTimeoutSeconds, env, argv)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(GpuSettings, deviceDir, lockDir)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ProcessPlan, replica, argv, env, workingDir, gpus, sandboxed)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(UnitPlan, name, kind, service, mounts, processes, successReplica,
                                   backoffLimit, port, readyPath, endpoint, loginToken, error,
                                   configHash, params)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(LocalPlan, projectDir, mounts, units, secretValues, warnings,
                                   modelRepositories, keepRuns, gpus)

}  // namespace skiff::deploy::local
