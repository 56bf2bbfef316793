#!/usr/bin/env python3
"""Loopback HTTP/1.1 proxy that adds a network round trip to every exchange.

    bench/latency_proxy.py --target 127.0.0.1:PORT --rtt 10ms [--bandwidth MBps]
                           [--handshake-rtts 1] [--replay] [--port-file FILE]

It emulates a region's round trip between a client and a storage service,
not the service itself: the server behind it (Azurite in the benches) still
answers at its own pace, with its own capacity. `tc netem` would do this in
the kernel; these machines do not have it.

Model: each response (a `100 Continue` too) waits RTT before its first byte
reaches the client, so a keep-alive connection pays one round trip per
request, and the server's own time adds to it as on a real network. A new
connection's first response waits HANDSHAKE_RTTS more round trips (1: TCP;
add 1 or 2 for TLS 1.3 or 1.2). With --bandwidth, each connection carries
at most that many MB/s (10^6 bytes) in each direction.

--replay stands in for a service with capacity to spare (Azure's, not one
Node process on a shared 2-core machine): a GET or HEAD answered 200 or 206
is kept, and the same request again (same path, query and range; the
signature aside) is answered from memory after the same round trip,
without reaching the server (the request's x-ms-client-request-id echoed;
blobs' answers over 1 MiB are always forwarded). A write (any other method)
that succeeds forgets what it changes: the blob's own answers and the
listings whose prefix covers it (a container's: all of them). Every client
gets the same treatment; the first time each request is made it still
costs the server.

Listens on 127.0.0.1 only (port 0: a free one, written to --port-file). On
SIGTERM or SIGINT it prints what it did to stderr and exits; SIGUSR1 prints
the same without exiting.
"""
import argparse
import asyncio
import collections
import os
import re
import resource
import signal
import sys
import time
import urllib.parse

CHUNK = 256 * 1024
# Larger answers are not kept: moving a blob's bytes is bandwidth, not
# request rate, and a client reading a large file in large ranges must not
# fill the memory that small files and listings are replayed from. A page
# of a listing (up to 5,000 names) is kept whole: its cost is the server's.
MAX_REPLAYED_BLOB = 1 << 20
MAX_REPLAYED_LISTING = 16 << 20
# Query parameters of a SAS: they authorise a request without changing its answer.
SIGNING_PARAMETERS = {"sig", "se", "st", "sp", "sv", "sr", "spr", "ss", "srt", "sip", "skoid",
                      "sktid", "skt", "ske", "sks", "skv", "sdd"}


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
        self.requests = collections.Counter()
        self.replayed = 0
        self.to_server = 0
        self.to_client = 0
        self.delayed_s = 0.0
        self.started = time.monotonic()

    def report(self):
        usage = resource.getrusage(resource.RUSAGE_SELF)
        methods = ", ".join(f"{n} {m}" for m, n in sorted(self.requests.items())) or "none"
        print(f"latency_proxy: {self.connections} connections ({self.open} open), "
              f"requests: {methods}; {self.replayed} replayed from memory; "
              f"{self.delayed_s:.2f} s of delay in all, "
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


class Request:
    def __init__(self, head):
        lines = head[:-4].split(b"\r\n")
        self.head = head
        self.method, target, _ = lines[0].decode("latin-1").split(" ", 2)
        self.headers = headers_of(lines[1:])
        url = urllib.parse.urlsplit(target)
        self.path = urllib.parse.unquote(url.path)
        self.query = {k: v for k, v in urllib.parse.parse_qsl(url.query, keep_blank_values=True)
                      if k not in SIGNING_PARAMETERS}

    def has_body(self):
        return "transfer-encoding" in self.headers or int(self.headers.get("content-length", 0)) > 0

    def replay_key(self):
        ranges = (self.headers.get("range"), self.headers.get("x-ms-range"))
        return (self.method, self.path, tuple(sorted(self.query.items())), ranges)


def headers_of(lines):
    headers = {}
    for line in lines:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers


def echo_request_id(answer, request):
    """The answer with the request's own x-ms-client-request-id, as the service echoes it."""
    head_end = answer.index(b"\r\n\r\n")
    head = re.sub(rb"(?im)^x-ms-client-request-id:[^\r]*\r\n", b"", answer[:head_end + 2])
    if "x-ms-client-request-id" in request.headers:
        head += f"x-ms-client-request-id: {request.headers['x-ms-client-request-id']}\r\n".encode()
    return head + answer[head_end + 2:]


class ReplayCache:
    """Answers to reads, forgotten when a write may change them."""

    def __init__(self, limit_bytes):
        self.answers = {}
        self.size = 0
        self.limit = limit_bytes

    def get(self, request):
        return self.answers.get(request.replay_key())

    def keep(self, request, answer):
        key = request.replay_key()
        if key in self.answers:
            self.size -= len(self.answers.pop(key))
        self.answers[key] = answer
        self.size += len(answer)
        while self.size > self.limit:  # the oldest go first
            self.size -= len(self.answers.pop(next(iter(self.answers))))

    def forget_changed_by(self, write):
        # /ACCOUNT/CONTAINER/NAME: the blob's answers, and the container's
        # listings whose prefix NAME starts with (all of them for the container itself).
        parts = write.path.split("/", 3)
        container = "/".join(parts[:3])
        name = parts[3] if len(parts) > 3 else ""
        for key in list(self.answers):
            _, path, query, _ = key
            prefix = dict(query).get("prefix", "")
            if path == write.path or (path == container and name.startswith(prefix)) or \
                    (not name and (path + "/").startswith(container + "/")):
                self.size -= len(self.answers.pop(key))


class Connection:
    """One client connection and its own connection to the server."""

    def __init__(self, args, stats, cache, client, server):
        self.args = args
        self.stats = stats
        self.cache = cache
        self.client_reader, self.client_writer = client
        self.server_reader, self.server_writer = server
        self.extra = args.rtt * args.handshake_rtts
        self.to_client = Throttle(args.bandwidth)
        self.to_server = Throttle(args.bandwidth)

    async def round_trip(self):
        delay = self.args.rtt + self.extra
        self.extra = 0
        if delay > 0:
            self.stats.delayed_s += delay
            await asyncio.sleep(delay)

    async def send_client(self, data, kept=None):
        self.stats.to_client += len(data)
        if kept is not None:
            kept.append(data)
        await self.to_client.wait(len(data))
        self.client_writer.write(data)
        await self.client_writer.drain()

    async def send_server(self, data, kept=None):
        self.stats.to_server += len(data)
        await self.to_server.wait(len(data))
        self.server_writer.write(data)
        await self.server_writer.drain()

    async def copy_body(self, reader, send, headers, until_eof=False):
        """Copies one message body framed by HEADERS (or, with until_eof, the rest)."""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                line = await reader.readuntil(b"\r\n")
                await send(line)
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    while line != b"\r\n":  # trailers, then the empty line
                        line = await reader.readuntil(b"\r\n")
                        await send(line)
                    return
                await self.copy_exactly(reader, send, size + 2)
        elif "content-length" in headers:
            await self.copy_exactly(reader, send, int(headers["content-length"]))
        elif until_eof:
            while data := await reader.read(CHUNK):
                await send(data)

    @staticmethod
    async def copy_exactly(reader, send, size):
        while size > 0:
            data = await reader.read(min(size, CHUNK))
            if not data:
                raise ConnectionError("the body ended early")
            size -= len(data)
            await send(data)

    async def serve(self):
        while True:
            try:
                head = await self.client_reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return  # the client closed its connection
            request = Request(head)
            self.stats.requests[request.method] += 1
            if self.args.log:
                self.args.log.write(head.split(b"\r\n", 1)[0].decode("latin-1") + "\n")
            replayable = self.cache is not None and request.method in ("GET", "HEAD") \
                and not request.has_body()
            if replayable and (answer := self.cache.get(request)) is not None:
                self.stats.replayed += 1
                await self.round_trip()
                await self.send_client(echo_request_id(answer, request))
                continue
            keep_open, status = await self.exchange(request, replayable)
            # A write that failed (a container create answered 409) changed nothing.
            if self.cache is not None and request.method not in ("GET", "HEAD") and status < 300:
                self.cache.forget_changed_by(request)
            if not keep_open:
                return

    async def exchange(self, request, replayable):
        """Forwards one request and its response: whether the connection
        goes on, and the response's status."""
        await self.send_server(request.head)
        status, headers, head = None, None, None
        if request.headers.get("expect", "").lower() == "100-continue":
            status, headers, head = await self.read_response_head()
            await self.round_trip()
            await self.send_client(head)
            if status != 100:
                return False, status  # refused before the body: the client may not send it now
            status = None
        await self.copy_body(self.client_reader, self.send_server, request.headers)
        while status is None or 100 <= status < 200:
            status, headers, head = await self.read_response_head()
            await self.round_trip()
            limit = MAX_REPLAYED_LISTING if request.query.get("comp") == "list" else MAX_REPLAYED_BLOB
            small = int(headers.get("content-length", 0)) <= limit
            kept = [] if replayable and status in (200, 206) and small else None
            await self.send_client(head, kept)
        bodiless = request.method == "HEAD" or status in (204, 304)
        framed = "content-length" in headers or "transfer-encoding" in headers
        if not bodiless:
            await self.copy_body(self.server_reader, lambda d: self.send_client(d, kept), headers,
                                 until_eof=True)
        if kept is not None and (bodiless or framed):
            self.cache.keep(request, b"".join(kept))
        return (bodiless or framed) and headers.get("connection", "").lower() != "close", status

    async def read_response_head(self):
        head = await self.server_reader.readuntil(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        return int(lines[0].split(b" ")[1]), headers_of(lines[1:]), head


async def handle(args, stats, cache, client_reader, client_writer):
    stats.connections += 1
    stats.open += 1
    server_writer = None
    try:
        server = await asyncio.open_connection(*args.target, limit=CHUNK)
        server_writer = server[1]
        await Connection(args, stats, cache, (client_reader, client_writer), server).serve()
    except (ConnectionError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
            ValueError):
        pass  # a client or server hung up mid-exchange, or spoke no HTTP: close both sides
    finally:
        stats.open -= 1
        for writer in (client_writer, server_writer):
            if writer is not None:
                writer.close()


async def main(args):
    stats = Stats()
    cache = ReplayCache(args.replay_limit_mib << 20) if args.replay else None
    server = await asyncio.start_server(lambda r, w: handle(args, stats, cache, r, w), "127.0.0.1",
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
    parser.add_argument("--replay", action="store_true",
                        help="answer repeated reads from memory (a service with capacity to spare)")
    parser.add_argument("--replay-limit-mib", type=int, default=2048,
                        help="memory for replayed answers, MiB (default 2048)")
    parser.add_argument("--log", type=argparse.FileType("w", bufsize=1),
                        help="write each request's first line here")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--port-file", help="write the port here once listening")
    args = parser.parse_args()
    host, _, port = args.target.rpartition(":")
    args.target = (host, int(port))
    args.bandwidth = args.bandwidth * 1e6 if args.bandwidth > 0 else None
    return args


if __name__ == "__main__":
    asyncio.run(main(parse()))
