"""A fake S3 server whose ListObjectsV2 answers are scripted, faults included.

moto always lists correctly; the faults a real server (or a buggy S3-compatible one)
can produce come from here: a continuation token handed out again, pages out of
order or going backwards, a truncated page without a token, an entry without
<Size>. Threaded http.server on 127.0.0.1, a free port; `stop()` ends it.

A listing is a chain of pages: the first answers a request without a continuation
token (keeping only keys after its StartAfter, so range listings of `--parallel`
start where they should), every other page answers the token that names it.
HEAD of the bucket answers 200, so stages that check the bucket first get on.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

FIRST = ""  # the page that answers a request without a token


@dataclass
class Page:
    keys: list[str]
    next_token: str | None = None  # the page after this one; None: the last page
    truncated: bool | None = None  # default: whether there is a next token
    without_size: set[str] = field(default_factory=set)  # keys listed without <Size>

    def body(self, after: str | None) -> bytes:
        keys = [key for key in self.keys if after is None or key > after]
        truncated = self.next_token is not None if self.truncated is None else self.truncated
        entries = "".join(
            "<Contents>"
            f"<Key>{escape(key)}</Key>"
            "<LastModified>2026-01-01T00:00:00.000Z</LastModified>"
            '<ETag>"d41d8cd98f00b204e9800998ecf8427e"</ETag>'
            + ("" if key in self.without_size else "<Size>0</Size>")
            + "<StorageClass>STANDARD</StorageClass></Contents>"
            for key in keys
        )
        token = (
            f"<NextContinuationToken>{escape(self.next_token)}</NextContinuationToken>"
            if self.next_token is not None
            else ""
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Name>fake</Name><Prefix></Prefix><KeyCount>{len(keys)}</KeyCount>"
            f"<MaxKeys>1000</MaxKeys><IsTruncated>{str(truncated).lower()}</IsTruncated>"
            f"{token}{entries}</ListBucketResult>"
        ).encode()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
        token = query.get("continuation-token", [FIRST])[0]
        after = query.get("start-after", [None])[0]
        page = self.server.pages.get(token)
        with self.server.lock:
            self.server.requests += 1
        if page is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = page.body(after if token == FIRST else None)
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, pages: dict[str, Page]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.pages = pages
        self.lock = threading.Lock()
        self.requests = 0


class FakeListingServer:
    """Serves `pages` (token -> page; FIRST for the first) until `stop()`."""

    def __init__(self, pages: dict[str, Page]) -> None:
        self._server = _Server(pages)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-listing", daemon=True
        )
        self._thread.start()

    @property
    def requests(self) -> int:
        return self._server.requests

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
