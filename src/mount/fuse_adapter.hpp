#pragma once

#include "mount/options.hpp"

namespace skiff::mount {

// Mounts options.uri at options.mountPoint and serves it until unmounted or
// signalled (SIGINT, SIGTERM, SIGHUP). Problems found before the mount (bad
// URI, credentials, unreachable store, bad mount point) throw skiff::Error
// while still attached to the terminal; then it daemonizes unless foreground.
int runMount(MountOptions options);

// Unmounts a skiff (or any FUSE) mount point; throws skiff::Error when it cannot.
void unmount(const std::string& mountPoint);

}  // namespace skiff::mount
