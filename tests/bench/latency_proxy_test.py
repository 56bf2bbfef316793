#!/usr/bin/env python3
"""bench/latency_proxy.py against a small HTTP server on loopback: round
trips are paid per request, bodies pass intact whatever their framing, and
--replay answers repeated reads itself until a write changes them."""
import collections
import hashlib
import http.client
import http.server
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest

PROXY = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "latency_proxy.py")
RTT = 0.05


class Store(http.server.BaseHTTPRequestHandler):
    """Answers GET/HEAD with what was asked; PUT with the body's digest."""
    protocol_version = "HTTP/1.1"
    seen = collections.Counter()

    def log_message(self, *args):
        pass

    def answer(self, status, body, chunked=False):
        self.send_response(status)
        if "x-ms-client-request-id" in self.headers:
            self.send_header("x-ms-client-request-id", self.headers["x-ms-client-request-id"])
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(body), 1000):
                part = body[i:i + 1000]
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    def do_GET(self):
        Store.seen[(self.command, self.path)] += 1
        body = f"{self.path} {self.headers.get('Range')}".encode() * 50
        self.answer(200, body, chunked="chunked" in self.path)

    do_HEAD = do_GET

    def do_PUT(self):
        Store.seen[(self.command, self.path)] += 1
        if "restype=container" in self.path:  # it exists already
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            return self.answer(409, b"ContainerAlreadyExists")
        if self.headers.get("Transfer-Encoding") == "chunked":
            body = b""
            while size := int(self.rfile.readline().split(b";")[0], 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers["Content-Length"]))
        self.answer(201, hashlib.sha256(body).hexdigest().encode())


class LatencyProxyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Store)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.tmp = tempfile.TemporaryDirectory()
        port_file = os.path.join(cls.tmp.name, "port")
        cls.proxy = subprocess.Popen(
            [sys.executable, PROXY, "--target", f"127.0.0.1:{cls.server.server_port}",
             "--rtt", f"{RTT * 1000:.0f}ms", "--replay", "--port-file", port_file],
            stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 10
        while not os.path.exists(port_file):
            if time.monotonic() > deadline or cls.proxy.poll() is not None:
                raise RuntimeError("the proxy did not start")
            time.sleep(0.02)
        with open(port_file) as f:
            cls.port = int(f.read())

    @classmethod
    def tearDownClass(cls):
        cls.proxy.terminate()
        report = cls.proxy.communicate(timeout=10)[1]
        cls.server.shutdown()
        cls.tmp.cleanup()
        assert "replayed from memory" in report, report

    def setUp(self):
        Store.seen.clear()
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def tearDown(self):
        self.connection.close()

    def request(self, method, path, body=None, headers=None):
        start = time.monotonic()
        headers = headers or {}
        self.connection.request(method, path, body=body, headers=headers,
                                encode_chunked=headers.get("Transfer-Encoding") == "chunked")
        response = self.connection.getresponse()
        return response, response.read(), time.monotonic() - start

    def test_each_request_on_a_kept_connection_pays_one_round_trip(self):
        _, _, first = self.request("PUT", "/acct/c/rtt", body=b"x")
        self.assertGreaterEqual(first, 2 * RTT)  # the handshake's round trip too
        for _ in range(3):
            _, _, took = self.request("PUT", "/acct/c/rtt", body=b"x")
            self.assertGreaterEqual(took, RTT)
        self.assertEqual(Store.seen[("PUT", "/acct/c/rtt")], 4)

    def test_bodies_pass_intact_whatever_their_framing(self):
        data = os.urandom(700_000)
        response, body, _ = self.request("PUT", "/acct/c/big", body=data)
        self.assertEqual(response.status, 201)
        self.assertEqual(body.decode(), hashlib.sha256(data).hexdigest())
        chunks = (data[i:i + 65536] for i in range(0, len(data), 65536))
        response, body, _ = self.request("PUT", "/acct/c/big", body=chunks,
                                         headers={"Transfer-Encoding": "chunked"})
        self.assertEqual(body.decode(), hashlib.sha256(data).hexdigest())
        response, body, _ = self.request("GET", "/acct/c/chunked")
        self.assertEqual(body, b"/acct/c/chunked None" * 50)
        response, body, _ = self.request("HEAD", "/acct/c/x")
        self.assertEqual((response.status, body), (200, b""))

    def test_repeated_reads_are_replayed_until_a_write_changes_them(self):
        def get(path, **headers):
            response, body, took = self.request("GET", path, headers=headers)
            self.assertEqual(response.status, 200)
            return response, body, took

        _, first, _ = get("/acct/c/a.bin?sig=one")
        _, again, took = get("/acct/c/a.bin?sig=two")  # another signature, the same read
        self.assertEqual(again, first)
        self.assertGreaterEqual(took, RTT)  # a replay still pays the round trip
        self.assertEqual(Store.seen[("GET", "/acct/c/a.bin?sig=one")], 1)
        self.assertEqual(sum(Store.seen.values()), 1)
        _, ranged, _ = get("/acct/c/a.bin", Range="bytes=0-9")
        self.assertIn(b"bytes=0-9", ranged)
        response, _, _ = get("/acct/c/a.bin", **{"x-ms-client-request-id": "mine"})
        self.assertEqual(response.getheader("x-ms-client-request-id"), "mine")
        get("/acct/c?comp=list&prefix=a")
        get("/acct/c?comp=list&prefix=b")
        self.assertEqual(sum(Store.seen.values()), 4)  # the first read, the range, two listings

        response, _, _ = self.request("PUT", "/acct/c?restype=container", body=b"")
        self.assertEqual(response.status, 409)  # a failed write changes nothing
        get("/acct/c?comp=list&prefix=a")
        self.assertEqual(sum(Store.seen.values()), 5)
        self.request("PUT", "/acct/c/a.bin", body=b"new")
        get("/acct/c/a.bin?sig=three")
        get("/acct/c?comp=list&prefix=a")  # covers a.bin: forgotten
        get("/acct/c?comp=list&prefix=b")  # does not: still replayed
        self.assertEqual(Store.seen[("GET", "/acct/c/a.bin?sig=three")], 1)
        self.assertEqual(Store.seen[("GET", "/acct/c?comp=list&prefix=a")], 2)
        self.assertEqual(Store.seen[("GET", "/acct/c?comp=list&prefix=b")], 1)


if __name__ == "__main__":
    unittest.main()
