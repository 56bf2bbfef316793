#pragma once

// The local target's supervisor: one background process per project that
// carries out release plans. It mounts storage, runs job replicas (restarting
// failed ones up to the backoff limit), keeps services running (restarting
// them with exponential backoff), probes them for readiness, writes logs
// with secrets redacted, records runs and metrics, and on `skiff down` or
// SIGTERM stops everything and unmounts. It exits by itself once nothing is
// left to run.

#include <filesystem>

namespace skiff::deploy::local {

// Runs the supervisor of `projectDir` until it is done; returns the exit code.
int runSupervisor(const std::filesystem::path& projectDir);

}  // namespace skiff::deploy::local
