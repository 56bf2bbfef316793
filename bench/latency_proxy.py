#!/usr/bin/env python3
"""Loopback TCP proxy that adds a network round trip to every HTTP exchange.

    bench/latency_proxy.py --target 127.0.0.1:PORT --rtt 10ms [--bandwidth MBps]
                           [--handshake-rtts 1] [--port-file FILE]

It emulates a region's round trip between a client and a storage service,
not the service itself: the server behind it (Azurite in the benches) still
answers at its own pace, with its own capacity. `tc netem` would do this in
the kernel; these machines do not have it.

Model: whenever the server sends data that is the first since the client
last sent something (a response to a request, a `100 Continue`), that data
and what follows it wait RTT before they reach the client. So a keep-alive
connection pays one round trip per request, a pipelined one pays one per
burst, and the server's own time adds to it as on a real network. A new
connection's first response waits HANDSHAKE_RTTS more round trips (1: TCP;
add 1 or 2 for TLS 1.3 or 1.2). With --bandwidth, each connection carries
at most that many MB/s (10^6 bytes) in each direction.

Listens on 127.0.0.1 only (port 0: a free one, written to --port-file). On
SIGTERM or SIGINT it prints what it did to stderr and exits; SIGUSR1 prints
the same without exiting.
"""
import argparse
import asyncio
import os
import re
import resource
import signal
import sys
import time

CHUNK = 256 * 1024


def duration(text):
    match = re.fullmatch(r"([0-9.]+)\s*(us|ms|s)?", text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text} (e.g. 10ms, 0.01s)")
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0, None: 1e-3}[match.group(2)]
    return float(match.group(1)) * scale


class Stats:
    def __init__(self):
        self.connections = 0
        self.open = 0
        self.exchanges = 0
        self.to_server = 0
        self.to_client = 0
        self.delayed_s = 0.0
        self.started = time.monotonic()

    def report(self):
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(f"latency_proxy: {self.connections} connections ({self.open} open), "
              f"{self.exchanges} exchanges delayed ({self.delayed_s:.2f} s of delay in all), "
              f"{self.to_server} bytes to the server, {self.to_client} bytes to the client, "
              f"{usage.ru_utime + usage.ru_stime:.2f} s CPU in "
              f"{time.monotonic() - self.started:.1f} s",
              file=sys.stderr, flush=True)


class Throttle:
    """Paces one direction of one connection to a byte rate (None: no cap)."""

    def __init__(self, rate):
        self.rate = rate
        self.next = 0.0

    async def wait(self, size):
        if not self.rate:
            return
        now = time.monotonic()
        start = max(now, self.next)
        self.next = start + size / self.rate
        if start > now:
            await asyncio.sleep(start - now)


class Connection:
    def __init__(self, args, stats):
        self.args = args
        self.stats = stats
        # The client has sent something the server has not answered yet.
        self.awaiting = False
        self.extra = args.rtt * args.handshake_rtts

    async def upstream(self, client, server):
        throttle = Throttle(self.args.bandwidth)
        while data := await client.read(CHUNK):
            self.awaiting = True
            self.stats.to_server += len(data)
            await throttle.wait(len(data))
            server.write(data)
            await server.drain()
        server.write_eof()

    async def downstream(self, server, client):
        throttle = Throttle(self.args.bandwidth)
        while data := await server.read(CHUNK):
            if self.awaiting and self.args.rtt > 0:
                self.awaiting = False
                delay = self.args.rtt + self.extra
                self.extra = 0
                self.stats.exchanges += 1
                self.stats.delayed_s += delay
                await asyncio.sleep(delay)
            self.stats.to_client += len(data)
            await throttle.wait(len(data))
            client.write(data)
            await client.drain()
        client.write_eof()


async def handle(args, stats, client_reader, client_writer):
    stats.connections += 1
    stats.open += 1
    server_writer = None
    try:
        server_reader, server_writer = await asyncio.open_connection(*args.target)
        connection = Connection(args, stats)
        await asyncio.gather(connection.upstream(client_reader, server_writer),
                             connection.downstream(server_reader, client_writer))
    except (ConnectionError, OSError):
        pass  # a client or server hung up mid-exchange: close both sides
    finally:
        stats.open -= 1
        for writer in (client_writer, server_writer):
            if writer is not None:
                writer.close()


async def main(args):
    stats = Stats()
    server = await asyncio.start_server(lambda r, w: handle(args, stats, r, w), "127.0.0.1",
                                        args.port, limit=CHUNK)
    port = server.sockets[0].getsockname()[1]
    if args.port_file:
        # Written whole, then renamed: a reader never sees half a port.
        with open(args.port_file + ".tmp", "w") as f:
            f.write(f"{port}\n")
        os.rename(args.port_file + ".tmp", args.port_file)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    loop.add_signal_handler(signal.SIGINT, done.set)
    loop.add_signal_handler(signal.SIGUSR1, stats.report)
    await done.wait()
    server.close()
    stats.report()


def parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", required=True, help="HOST:PORT to forward to")
    parser.add_argument("--rtt", type=duration, default=0.0, help="round trip, e.g. 10ms (default 0)")
    parser.add_argument("--bandwidth", type=float, default=0.0,
                        help="cap per connection and direction, MB/s (default: none)")
    parser.add_argument("--handshake-rtts", type=int, default=1,
                        help="extra round trips before a connection's first response (default 1)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--port-file", help="write the port here once listening")
    args = parser.parse_args()
    host, _, port = args.target.rpartition(":")
    args.target = (host, int(port))
    args.bandwidth = args.bandwidth * 1e6 if args.bandwidth > 0 else None
    return args


if __name__ == "__main__":
    asyncio.run(main(parse()))
