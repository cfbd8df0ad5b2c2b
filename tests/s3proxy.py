"""An HTTP proxy in front of the moto server that slows, counts and breaks requests.

Enough HTTP for boto3's S3 calls, on 127.0.0.1 only. Tests use it to make a stage
slow enough to interrupt, to count the requests it made, and to inject the faults
a real S3 produces: throttling, per-key errors inside DeleteObjects, error
statuses for chosen requests, bodies cut short, and (with `FaultRates`) random
503 SlowDown, 500 InternalError, connections reset without a response and
responses stalled past the client's read timeout, drawn from a seeded RNG. It can
also play servers that answer wrongly: one that ignores `partNumber`, and one whose
DeleteObjects answer names another key than the one asked for (or none).
"""

from __future__ import annotations

import http.client
import random
import re
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class FaultRates:
    """Random faults: the chance of each per request, and how long a stall lasts.

    A reset and a stall happen after the request reached the server (it took effect,
    only the answer is lost), the harder case for a client that retries.
    """

    slow_down: float = 0.10  # 503 SlowDown
    internal_error: float = 0.01  # 500 InternalError
    reset: float = 0.02  # the connection closed (RST) without a response
    stall: float = 0.01  # no response for stall_s, then the connection closed
    stall_s: float = 3.0
    seed: int = 0


@dataclass
class Faults:
    """What to break. Paths are matched as substrings of the (URL-decoded) request path."""

    throttle_deletes: int = 0  # DeleteObjects requests to answer 503 SlowDown
    delete_fail_once: set[str] = field(default_factory=set)  # keys: InternalError once
    delete_fail_always: set[str] = field(default_factory=set)  # keys: AccessDenied always
    # (method, path) -> HTTP status, or (status, error code) such as (400, "ExpiredToken")
    status: dict[tuple[str, str], int | tuple[int, str]] = field(default_factory=dict)
    cut_short: set[str] = field(default_factory=set)  # GETs whose body stops halfway
    rates: FaultRates | None = None  # random faults on every request
    # Act like Ceph RGW 16: drop the partNumber query, so a "part" is the whole object
    # and the answer has no part count.
    ignore_part_number: bool = False
    # DeleteObjects answered like s3rver's trimmed keys: key asked -> the name the answer
    # reports as Deleted (None: the answer leaves the key out); the server never sees it.
    delete_misreport: dict[str, str | None] = field(default_factory=dict)
    # Act like rclone serve s3 on big uploads, which it writes in part order: a completion
    # is refused (InvalidPart) if two of the upload's parts were in flight at once or a
    # part arrived after a higher one.
    parts_in_order: bool = False
    injected: Counter[str] = field(default_factory=Counter)  # fault kind -> times injected
    lock: threading.Lock = field(default_factory=threading.Lock)
    _rng: random.Random | None = None
    _parts: dict[str, list[int]] = field(default_factory=dict)  # upload -> part numbers
    _sending: Counter[str] = field(default_factory=Counter)  # upload -> parts in flight
    _disordered: set[str] = field(default_factory=set)

    def set_rates(self, rates: FaultRates | None) -> None:
        with self.lock:
            self.rates = rates
            self._rng = random.Random(rates.seed) if rates else None

    def draw(self) -> str | None:
        """The random fault for this request, if any (counted in `injected`)."""
        with self.lock:
            if self.rates is None or self._rng is None:
                return None
            roll, rates = self._rng.random(), self.rates
            for kind, rate in (
                ("SlowDown", rates.slow_down),
                ("InternalError", rates.internal_error),
                ("reset", rates.reset),
                ("stall", rates.stall),
            ):
                if roll < rate:
                    self.injected[kind] += 1
                    return kind
                roll -= rate
            return None

    def part_started(self, method: str, path: str) -> str | None:
        """The upload an UploadPart belongs to (None for any other request), noted."""
        number = re.search(r"[?&]partNumber=(\d+)", path)
        found = re.search(r"[?&]uploadId=([^&]+)", path)
        if not self.parts_in_order or method != "PUT" or found is None or number is None:
            return None
        upload = found.group(1)
        with self.lock:
            seen = self._parts.setdefault(upload, [])
            if self._sending[upload] or (seen and int(number.group(1)) < max(seen)):
                self._disordered.add(upload)
            seen.append(int(number.group(1)))
            self._sending[upload] += 1
        return upload

    def part_ended(self, upload: str) -> None:
        with self.lock:
            self._sending[upload] -= 1

    def refuses_completion(self, method: str, path: str) -> bool:
        found = re.search(r"[?&]uploadId=([^&]+)", path)
        if not self.parts_in_order or method != "POST" or found is None:
            return False
        with self.lock:
            refused = found.group(1) in self._disordered
            self.injected["InvalidPart"] += refused
            return refused

    def take_throttle(self) -> bool:
        with self.lock:
            if self.throttle_deletes > 0:
                self.throttle_deletes -= 1
                return True
            return False

    def status_for(self, method: str, path: str) -> tuple[int, str] | None:
        for (verb, part), answer in list(self.status.items()):
            if verb in (method, "*") and part in path:
                if isinstance(answer, tuple):
                    return answer
                return answer, "AccessDenied" if answer == 403 else "InternalError"
        return None

    def delete_errors(self, request: bytes) -> list[tuple[bytes, bytes]]:
        errors = []
        for key in re.findall(rb"<Key>([^<]*)</Key>", request):
            name = key.decode()
            with self.lock:
                once = name in self.delete_fail_once
                self.delete_fail_once.discard(name)
            if once:
                errors.append((key, b"InternalError"))
            elif name in self.delete_fail_always:
                errors.append((key, b"AccessDenied"))
        return errors

    def withhold_deletes(self, request: bytes) -> tuple[bytes, list[bytes]]:
        """The DeleteObjects body without the misreported keys, and the names to report."""
        reported = []
        for asked, name in self.delete_misreport.items():
            entry = rb"<Object><Key>%s</Key>(<VersionId>[^<]*</VersionId>)?</Object>"
            request, found = re.subn(entry % re.escape(asked.encode()), b"", request)
            if found and name is not None:
                reported.append(name.encode())
        return request, reported


class _Proxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str, delay_s: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.delay_s = delay_s
        self.faults = Faults()
        self.requests: list[tuple[str, str]] = []
        self.agents: list[tuple[str, str]] = []  # (method, User-Agent) of each request
        self.in_flight = 0  # DeleteObjects requests being answered right now
        self.delete_arrivals: list[tuple[float, int]] = []  # (time, in flight on arrival)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Proxy

    def _forward(self) -> None:
        faults = self.server.faults
        upload = faults.part_started(self.command, unquote(self.path))
        try:
            self._forward_counted()
        finally:
            if upload is not None:
                faults.part_ended(upload)

    def _forward_counted(self) -> None:
        is_delete = self.command == "POST" and "delete" in self.path
        if not is_delete:
            self._answer(is_delete)
            return
        server = self.server
        with server.faults.lock:
            server.in_flight += 1
            server.delete_arrivals.append((time.monotonic(), server.in_flight))
        try:
            self._answer(is_delete)
        finally:
            with server.faults.lock:
                server.in_flight -= 1

    def _answer(self, is_delete: bool) -> None:
        self.server.requests.append((self.command, self.path))
        self.server.agents.append((self.command, self.headers.get("User-Agent", "")))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        time.sleep(self.server.delay_s)
        faults, path = self.server.faults, unquote(self.path)
        fault = faults.draw()
        if fault in ("SlowDown", "InternalError"):
            self._error(503 if fault == "SlowDown" else 500, fault)
            return
        if is_delete and faults.take_throttle():
            self._error(503, "SlowDown")
            return
        answer = faults.status_for(self.command, path)
        if answer is not None:
            self._error(*answer)
            return
        if faults.refuses_completion(self.command, path):
            self._error(400, "InvalidPart")
            return
        misreported: list[bytes] = []
        if is_delete and body and faults.delete_misreport:
            body, misreported = faults.withhold_deletes(body)
        target = self.path
        if faults.ignore_part_number:
            target = re.sub(r"([?&])partNumber=\d+&?", r"\1", target).rstrip("?&")
        upstream = http.client.HTTPConnection(*self.server.upstream, timeout=60)
        try:
            headers = dict(self.headers)
            if body is not None:
                headers["Content-Length"] = str(len(body))
            upstream.request(self.command, target, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
        finally:
            upstream.close()
        if fault == "stall":
            assert faults.rates is not None
            time.sleep(faults.rates.stall_s)
        if fault in ("reset", "stall"):
            self._reset()
            return
        errors = faults.delete_errors(body) if is_delete and body else []
        if errors:
            injected = b"".join(
                b"<Error><Key>%s</Key><Code>%s</Code><Message>injected</Message></Error>" % item
                for item in errors
            )
            data = data.replace(b"</DeleteResult>", injected + b"</DeleteResult>")
        if misreported:
            reported = b"".join(b"<Deleted><Key>%s</Key></Deleted>" % name for name in misreported)
            data = re.sub(rb"<DeleteResult([^>]*)/>", rb"<DeleteResult\1></DeleteResult>", data)
            data = data.replace(b"</DeleteResult>", reported + b"</DeleteResult>")
        self.send_response(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() in ("connection", "content-length", "transfer-encoding"):
                continue
            if not (faults.ignore_part_number and name.lower() == "x-amz-mp-parts-count"):
                self.send_header(name, value)
        # A HEAD response has no body but announces the object's length.
        announced = response.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", announced or str(len(data)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if self.command == "GET" and any(part in path for part in faults.cut_short):
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            return
        self.wfile.write(data)

    def _reset(self) -> None:
        """Drops the connection without a response: RST, not an orderly close."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _error(self, status: int, code: str) -> None:
        payload = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", "0" if self.command == "HEAD" else str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

    def log_message(self, format: str, *args: Any) -> None:
        pass


class ProxiedEndpoint:
    """A running proxy: its URL, its delay, its faults, the requests it saw."""

    def __init__(self, upstream: str, delay_s: float) -> None:
        self._proxy = _Proxy(upstream, delay_s)
        threading.Thread(target=self._proxy.serve_forever, name="s3-proxy", daemon=True).start()
        host, port = self._proxy.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        self.faults = self._proxy.faults

    @property
    def delay_s(self) -> float:
        return self._proxy.delay_s

    @delay_s.setter
    def delay_s(self, seconds: float) -> None:
        """Changes the delay of the requests to come (a checkpoint keys on the endpoint)."""
        self._proxy.delay_s = seconds

    @property
    def delete_arrivals(self) -> list[tuple[float, int]]:
        """(time, DeleteObjects requests in flight) at each DeleteObjects arrival."""
        return list(self._proxy.delete_arrivals)

    def requests(self, method: str | None = None) -> list[str]:
        """Paths requested so far (of one HTTP method if given)."""
        return [path for verb, path in list(self._proxy.requests) if method in (None, verb)]

    def agents(self, method: str) -> list[str]:
        """The User-Agent of each request of one HTTP method so far."""
        return [agent for verb, agent in list(self._proxy.agents) if verb == method]

    def stop(self) -> None:
        self._proxy.shutdown()
        self._proxy.server_close()
