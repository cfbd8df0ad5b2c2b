"""bench/harness/latency.py: every response arrives the delay late, bodies stream through intact,
status and headers pass unchanged, connections are kept alive, many at once."""

from __future__ import annotations

import hashlib
import http.client
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.harness.latency import LatencyProxy

DELAY_MS = 200
BIG = 24 * 1024 * 1024 + 7


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def do_GET(self) -> None:
        if self.path == "/big":
            chunk = bytes(range(256)) * 4096
            self.send_response(200)
            self.send_header("Content-Length", str(BIG))
            self.end_headers()
            left = BIG
            while left:
                self.wfile.write(chunk[: min(left, len(chunk))])
                left -= min(left, len(chunk))
            return
        body = f"no such key: {self.path}".encode()
        self.send_response(404)
        self.send_header("x-amz-request-id", "ABC123")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("ETag", f'"{hashlib.md5(body).hexdigest()}"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


class Upstream(ThreadingHTTPServer):
    request_queue_size = 128  # the proxy connects 64 at once
    daemon_threads = True


@pytest.fixture(scope="module")
def proxy() -> Iterator[LatencyProxy]:
    server = Upstream(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with LatencyProxy(server.server_address[1], DELAY_MS) as running:
            yield running
    finally:
        server.shutdown()
        server.server_close()


def timed_get(
    conn: http.client.HTTPConnection, path: str
) -> tuple[float, http.client.HTTPResponse, bytes]:
    started = time.monotonic()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    return time.monotonic() - started, response, body


def test_each_response_is_delayed_and_status_and_headers_pass_through(proxy: LatencyProxy) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    first, response, body = timed_get(conn, "/missing/key")
    assert response.status == 404
    assert response.getheader("x-amz-request-id") == "ABC123"
    assert body == b"no such key: /missing/key"
    assert first >= 2 * DELAY_MS / 1000  # a new connection: handshake + response
    # the same connection (keep-alive): one delay per response, no more
    again, response, _ = timed_get(conn, "/other")
    assert response.status == 404
    assert DELAY_MS / 1000 <= again < 2 * DELAY_MS / 1000
    started = time.monotonic()
    conn.request("PUT", "/bucket/key", body=b"hello")
    put = conn.getresponse()
    put.read()
    assert put.status == 200
    assert put.getheader("ETag") == f'"{hashlib.md5(b"hello").hexdigest()}"'
    assert time.monotonic() - started >= DELAY_MS / 1000
    conn.close()


def test_a_large_body_streams_through_intact(proxy: LatencyProxy) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
    took, response, body = timed_get(conn, "/big")
    assert response.status == 200
    expected = (bytes(range(256)) * (BIG // 256 + 1))[:BIG]
    assert len(body) == BIG
    assert hashlib.sha256(body).digest() == hashlib.sha256(expected).digest()
    # the delay applies once to the stream, not per chunk (that would take 96 x 0.2 s)
    assert took < 2 * DELAY_MS / 1000 + 5
    conn.close()


def test_many_connections_wait_concurrently(proxy: LatencyProxy) -> None:
    def one(_: int) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        try:
            conn.request("GET", "/x")
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    started = time.monotonic()
    with ThreadPoolExecutor(64) as pool:
        statuses = list(pool.map(one, range(64)))
    assert statuses == [404] * 64
    assert time.monotonic() - started < 64 * DELAY_MS / 1000 / 4  # far from serialized
