#pragma once

// For long-running commands (skiff serve, skiff dashboard): SIGINT and SIGTERM
// are blocked from construction on, in this thread and every thread started
// after, so that wait() alone sees them and the command can shut down cleanly.

#include <csignal>

namespace skiff {

class TerminationSignals {
 public:
  TerminationSignals();
  // Returns the signal that arrived (SIGINT or SIGTERM).
  int wait();

 private:
  sigset_t signals_;
};

}  // namespace skiff
