#pragma once

// What a release leaves on the machine (processes, FUSE mounts) and how to
// take it away, also when the supervisor died without doing so itself.

#include <string>

#include "deploy/local/state.hpp"

namespace skiff::deploy::local {

bool isMounted(const std::string& mountpoint);

// Unmounts a FUSE mount (lazily when busy); true when it is gone.
bool unmount(const std::string& mountpoint);

// True when `pid` is alive and is the process that started at `startedWall`
// (seconds since the epoch), not a later one that reuses the pid.
bool isSameProcess(int pid, double startedWall);

bool isAlive(int pid);

// When the recorded supervisor is gone: stops the processes and unmounts the
// mounts it recorded, and marks what was running as lost. Returns what it
// did, a line each, for the user.
std::vector<std::string> cleanUpAfterCrash(StateDb& state);

}  // namespace skiff::deploy::local
