#pragma once

// Moving a process out of its container's cgroup. A container runtime ends a
// container by killing every process of its cgroup (containerd does so when
// the container shares the host's PID namespace, as skiff's node plugin
// does): the mount processes of the plugin go to a cgroup of their own so
// that they outlive it.

#include <sys/types.h>

#include <filesystem>
#include <string>

namespace skiff::csi {

// Moves `pid` into the cgroup `name` right under the root of every
// hierarchy mounted at `root` (cgroup v1: one per controller, e.g.
// root/memory/name; v2: root/name), making it where missing. Throws
// skiff::Error naming the hierarchy that refused.
void moveToCgroup(pid_t pid, const std::filesystem::path& root, const std::string& name);

}  // namespace skiff::csi
