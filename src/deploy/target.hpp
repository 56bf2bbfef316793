#pragma once

// A deployment target: where `skiff release`, `status`, `logs` and `down`
// act. `local` (the embedded default) runs the project on this machine;
// `k8s` applies it to a Kubernetes cluster. Both take the same spec and mean
// the same thing by it.

#include <filesystem>
#include <memory>
#include <string>

#include "spec/spec.hpp"

namespace skiff::deploy {

// What every command on a target knows.
struct TargetOptions {
  std::filesystem::path projectDir = ".";
  std::string namespaceName;  // k8s: overrides the kubeconfig context's namespace
};

struct ReleaseOptions : TargetOptions {
  std::string secretsFile;      // --secrets-file: values for the spec's secrets
  bool wait = false;            // wait for jobs to finish and services to be ready
  bool prune = false;           // delete objects of this app that left the spec
  bool forceConflicts = false;  // k8s: take over fields owned by another manager
  double timeoutSeconds = 600;  // how long --wait waits
  // k8s: run jobs again even when their spec is unchanged (`skiff run`: a
  // new training run, as on the local target); `release` keeps them.
  bool rerunJobs = false;
};

struct StatusOptions : TargetOptions {
  bool json = false;
  bool runs = false;  // local: the run history instead of the latest runs
};

struct LogsOptions : TargetOptions {
  std::string name;     // a job, service or "notebook"; empty: all of them
  std::string replica;  // a replica (e.g. "worker-1"); empty: all replicas
  bool follow = false;
};

struct DownOptions : TargetOptions {};

struct ProxyOptions : TargetOptions {
  std::string name;  // a service, or "notebook"
  int port = 0;      // on 127.0.0.1; 0: any free port
};

// Each command returns the process exit code (0 ok, 1 failed) and throws
// skiff::Error for what it cannot do, saying what, where and what to do.
class Target {
 public:
  virtual ~Target() = default;
  // True when the target runs container images, so `skiff run` builds first.
  virtual bool needsImage() const { return false; }
  virtual int release(const spec::Spec& spec, const ReleaseOptions& options) = 0;
  virtual int status(const spec::Spec& spec, const StatusOptions& options) = 0;
  virtual int logs(const spec::Spec& spec, const LogsOptions& options) = 0;
  virtual int down(const spec::Spec& spec, const DownOptions& options) = 0;
  // Forwards a port on 127.0.0.1 to a service until SIGINT or SIGTERM.
  virtual int proxy(const spec::Spec& spec, const ProxyOptions& options) = 0;
};

std::unique_ptr<Target> makeLocalTarget();  // deploy/local
std::unique_ptr<Target> makeK8sTarget();    // deploy/k8s

// "local" or "k8s"; anything else is an Error naming the choices.
std::unique_ptr<Target> makeTarget(const std::string& name);

}  // namespace skiff::deploy
