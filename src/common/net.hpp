#pragma once

// Loopback TCP helpers: skiff's servers and the services it runs listen on
// 127.0.0.1, and the local target probes them there.

namespace skiff {

// A TCP port on 127.0.0.1 that nothing listens on now (asked from the kernel).
int freeLoopbackPort();

// A socket connected to 127.0.0.1:port (send/receive time out after
// `timeoutSeconds`), or -1 when nothing accepts there.
int connectLoopback(int port, int timeoutSeconds = 5);

bool portAcceptsConnections(int port);

}  // namespace skiff
