"""A scripted HTTP server for the answers moto cannot give: each request is answered by
a function of (method, path, headers, body), which may also stall, trickle or drop.

It records every request it saw (method, path, headers) and the most requests it had
in flight at once. 127.0.0.1 only, a free port, stopped by `stop()`.
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay_s: float = 0.0  # before the status line
    trickle_s: float = 0.0  # between body bytes
    cut_after: int | None = None  # send this many body bytes, then reset the connection


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Script = Callable[[Seen, int], Reply]  # the request and its number (from 0)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, script: Script) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = script
        self.seen: list[Seen] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up early (a timeout under test): nothing to report


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        seen = Seen(
            self.command,
            self.path,
            {name.lower(): value for name, value in self.headers.items()},
            self.rfile.read(length) if length else b"",
        )
        server = self.server
        with server.lock:
            number = len(server.seen)
            server.seen.append(seen)
            server.in_flight += 1
            server.most_in_flight = max(server.most_in_flight, server.in_flight)
        try:
            self._reply(server.script(seen, number))
        finally:
            with server.lock:
                server.in_flight -= 1

    def _reply(self, reply: Reply) -> None:
        time.sleep(reply.delay_s)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if "Content-Length" not in reply.headers:
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        body = reply.body if reply.cut_after is None else reply.body[: reply.cut_after]
        if reply.trickle_s:
            for index in range(len(body)):
                self.wfile.write(body[index : index + 1])
                self.wfile.flush()
                time.sleep(reply.trickle_s)
        else:
            self.wfile.write(body)
        if reply.cut_after is not None:
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


class FakeS3:
    """The server; with `tls` (a cert and key file), it speaks https as `localhost`."""

    def __init__(self, script: Script, tls: tuple[str, str] | None = None) -> None:
        self._server = _Server(script)
        scheme, host = "http", "127.0.0.1"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            scheme, host = "https", "localhost"
        threading.Thread(target=self._server.serve_forever, name="fake-s3", daemon=True).start()
        self.url = f"{scheme}://{host}:{self._server.server_address[1]}"

    @property
    def seen(self) -> list[Seen]:
        return list(self._server.seen)

    @property
    def most_in_flight(self) -> int:
        return self._server.most_in_flight

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
