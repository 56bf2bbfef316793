#include "common/signals.hpp"

#include <pthread.h>

namespace skiff {

TerminationSignals::TerminationSignals() {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGINT);
  sigaddset(&signals_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
}

int TerminationSignals::wait() {
  int signal = 0;
  sigwait(&signals_, &signal);
  return signal;
}

}  // namespace skiff
