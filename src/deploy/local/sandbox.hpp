#pragma once

// Runs a job's command in a bubblewrap sandbox that looks like its container
// would: the host's system read-only, the project writable at its path, a
// private /tmp, private PID/IPC/UTS namespaces, and each storage entry bound
// at its mountPath. The network stays shared: replicas and services talk
// over loopback, as pods of one release do.

#include <string>
#include <vector>

namespace skiff::deploy::local {

struct SandboxBind {
  std::string source;  // on this machine
  std::string target;  // inside the sandbox
  bool readOnly = false;
};

struct SandboxSpec {
  std::string bwrap;  // the bwrap binary
  std::string projectDir;
  std::string workingDir;
  std::vector<SandboxBind> binds;
};

// The argument vector that runs `command` inside the sandbox.
std::vector<std::string> sandboxCommand(const SandboxSpec& sandbox,
                                        const std::vector<std::string>& command);

}  // namespace skiff::deploy::local
