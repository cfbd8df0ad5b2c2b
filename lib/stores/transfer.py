"""What the copier (lib/pipelines/copier.py) moves bytes with: timeouts, retries, upload state.

`Retrier` runs each request under an adaptive timeout in the spirit of s3-algo:
the timeout is a base plus a factor times the expected transfer time, from an
exponential average of the bandwidth measured so far (`Timeouts`), each retry
doubles it and backs off with jitter, and `Clients` keeps one client per timeout.
Multipart transfers record their upload id and finished parts in an
`UploadState`; `Uploads` holds those of a run, which the checkpoint carries, so
a rerun continues the same upload instead of starting over. `Buffers` caps the
part-sized buffers held at once.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import msgspec

from lib.leaves.retry import backoff, retryable
from lib.stores.s3 import S3Config, make_client, read_timeout_s

T = TypeVar("T")
MIB = 1024 * 1024
MAX_PARTS = 10_000
COPY_OBJECT_LIMIT = 5 * 1024 * MIB


class TransferError(Exception):
    """A transfer that cannot succeed (or no longer may be retried)."""


class Timeouts:
    """Per-request timeouts from an exponential average of the measured bandwidth."""

    def __init__(
        self,
        base_s: float | None = None,
        factor: float = 4.0,
        bandwidth: float = 20e6,
        alpha: float = 0.3,
    ) -> None:
        self.base_s = base_s if base_s is not None else read_timeout_s(15.0)
        self.factor = factor
        self.bandwidth = bandwidth
        self.alpha = alpha
        self._lock = threading.Lock()

    def timeout(self, nbytes: int, attempt: int) -> float:
        expected = nbytes / self.bandwidth
        return float((self.base_s + self.factor * expected) * 2 ** (attempt - 1))

    def observe(self, nbytes: int, seconds: float) -> None:
        if nbytes < 256 * 1024 or seconds <= 0:
            return  # small requests measure latency, not bandwidth
        with self._lock:
            self.bandwidth = self.alpha * (nbytes / seconds) + (1 - self.alpha) * self.bandwidth


class Clients:
    """boto3 clients per timeout bucket (powers of two seconds), without botocore retries."""

    def __init__(self, config: S3Config) -> None:
        self.config = config
        self._clients: dict[int, Any] = {}
        self._lock = threading.Lock()

    def get(self, timeout_s: float) -> Any:
        bucket = 2 ** max(0, math.ceil(math.log2(max(timeout_s, 1.0))))
        with self._lock:
            client = self._clients.get(bucket)
            if client is None:
                client = make_client(self.config, read_timeout=bucket, max_attempts=1)
                self._clients[bucket] = client
            return client


class ClientSource(Protocol):
    """Gives the client to send a request with, given the timeout it must have."""

    def get(self, timeout_s: float) -> Any: ...


@dataclass
class Retrier:
    timeouts: Timeouts
    attempts: int = 6
    retries: int = 0  # retries spent, over all calls through this retrier

    def call(self, clients: ClientSource, nbytes: int, operation: Callable[[Any], T]) -> T:
        for attempt in range(1, self.attempts + 1):
            started = time.monotonic()
            try:
                result = operation(clients.get(self.timeouts.timeout(nbytes, attempt)))
            except Exception as exc:
                if not retryable(exc) or attempt == self.attempts:
                    raise
                self.retries += 1
                backoff(attempt, base_s=0.2, cap_s=10.0)  # transfers are long: wait longer
                continue
            self.timeouts.observe(nbytes, time.monotonic() - started)
            return result
        raise AssertionError("unreachable")


class UploadState(msgspec.Struct):
    """A multipart upload in progress: enough to continue it after a crash."""

    upload_id: str
    part_size: int
    parts: dict[str, str] = msgspec.field(default_factory=dict)  # part number -> ETag


@dataclass
class Uploads:
    """The open multipart uploads of a stage, by target key; a checkpoint saves them."""

    open: dict[str, UploadState] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {key: msgspec.to_builtins(state) for key, state in self.open.items()}

    @classmethod
    def restore(cls, saved: dict[str, Any]) -> Uploads:
        return cls({key: msgspec.convert(value, UploadState) for key, value in saved.items()})

    def start(self, key: str, state: UploadState) -> None:
        with self.lock:
            self.open[key] = state

    def part_done(self, key: str, number: int, etag: str) -> None:
        with self.lock:
            self.open[key].parts[str(number)] = etag

    def finish(self, key: str) -> None:
        with self.lock:
            self.open.pop(key, None)

    def get(self, key: str) -> UploadState | None:
        with self.lock:
            return self.open.get(key)


def part_size_for(size: int, wanted: int) -> int:
    """The part size to use: at least `wanted`, and few enough parts for S3's limit."""
    return max(wanted, math.ceil(size / MAX_PARTS), 5 * MIB)


def multipart_etag(part_etags: list[str]) -> str:
    """The ETag S3 gives a multipart object whose parts have these (MD5) ETags."""
    import hashlib

    digests = b"".join(bytes.fromhex(etag.strip('"')) for etag in part_etags)
    return f"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{len(part_etags)}"


class Buffers:
    """Caps how many part-sized buffers exist at once, whatever the object sizes."""

    def __init__(self, count: int) -> None:
        self._semaphore = threading.BoundedSemaphore(count)

    @contextlib.contextmanager
    def hold(self) -> Any:
        self._semaphore.acquire()
        try:
            yield
        finally:
            self._semaphore.release()
