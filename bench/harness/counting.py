"""A request-counting TCP proxy on 127.0.0.1, for untimed runs: the server cannot say how
many requests a client sent, so the client talks to this proxy instead.

Bytes pass through unchanged (the SigV4 signature covers the Host header, which
names the proxy on both sides). The client-to-server stream is scanned for HTTP
request heads; each is classified as an S3 operation by method, path, query and
the copy-source header. Random or JSON bodies never contain a request line.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections import Counter
from types import TracebackType

HEAD_RE = re.compile(
    rb"(GET|HEAD|PUT|POST|DELETE) (/[^ \r\n]*) HTTP/1\.[01]\r\n(.{0,16384}?)\r\n\r\n", re.DOTALL
)
KEEP = 32768  # bytes kept between reads: a request head may straddle two of them
BUCKET_GETS = {"list-type": "ListObjectsV2", "versions": "ListObjectVersions",
               "versioning": "GetBucketVersioning", "location": "GetBucketLocation",
               "uploads": "ListMultipartUploads"}  # fmt: skip
COPY_SOURCE_RE = re.compile(rb"\r\nx-amz-copy-source:", re.IGNORECASE)


def operation(method: str, target: str, copy_source: bool) -> str:
    """The S3 operation of a request, e.g. ListObjectsV2, HeadObject, DeleteObjects."""
    path, _, query = target.partition("?")
    params = {part.split("=", 1)[0] for part in query.split("&") if part}
    has_key = len(path.lstrip("/").split("/", 1)) == 2 and path.lstrip("/").split("/", 1)[1] != ""
    if method == "GET":
        if not has_key:
            for param, name in BUCKET_GETS.items():
                if param in params:
                    return name
            return "ListObjects"
        return "GetObject (part)" if "partNumber" in params else "GetObject"
    if method == "HEAD":
        if not has_key:
            return "HeadBucket"
        return "HeadObject (part)" if "partNumber" in params else "HeadObject"
    if method == "POST":
        if "delete" in params:
            return "DeleteObjects"
        if "uploads" in params:
            return "CreateMultipartUpload"
        return "CompleteMultipartUpload" if "uploadId" in params else "POST"
    if method == "PUT":
        if not has_key:
            return "CreateBucket"
        if "partNumber" in params:
            return "UploadPartCopy" if copy_source else "UploadPart"
        return "CopyObject" if copy_source else "PutObject"
    if method == "DELETE":
        return "AbortMultipartUpload" if "uploadId" in params else "DeleteObject"
    return method


class CountingProxy:
    """Listens on 127.0.0.1:<free port>, forwards to 127.0.0.1:`upstream_port`."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(256)
        self.port: int = self._listener.getsockname()[1]
        self._closed = False
        self._threads: list[threading.Thread] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> Counter[str]:
        with self._lock:
            counts, self.counts = self.counts, Counter()
        return counts

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for source, sink, scan in ((client, upstream, True), (upstream, client, False)):
                thread = threading.Thread(target=self._pump, args=(source, sink, scan), daemon=True)
                thread.start()

    def _pump(self, source: socket.socket, sink: socket.socket, scan: bool) -> None:
        pending = b""
        try:
            while data := source.recv(262144):
                sink.sendall(data)
                if scan:
                    pending = self._scan(pending + data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            source.close()

    def _scan(self, buffer: bytes) -> bytes:
        end = 0
        found = []
        for match in HEAD_RE.finditer(buffer):
            method, target, headers = match.group(1), match.group(2), match.group(3)
            copy = COPY_SOURCE_RE.search(b"\r\n" + headers) is not None
            found.append(operation(method.decode(), target.decode("latin-1"), copy))
            end = match.end()
        if found:
            with self._lock:
                self.counts.update(found)
        return buffer[max(end, len(buffer) - KEEP) :]

    def __enter__(self) -> CountingProxy:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self._listener.close()


def describe_counts(counts: Counter[str]) -> str:
    """`12 ListObjectsV2, 1 HeadBucket`, most frequent first."""
    if not counts:
        return "none"
    return ", ".join(f"{n:,} {name}" for name, n in counts.most_common())
