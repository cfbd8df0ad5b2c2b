"""An object read as a file, by parallel ranged GETs in order, with bounded memory.

The first GET asks for the first `part_size` bytes and learns the object's size from
Content-Range; then up to `ahead` ranges are in flight while the reader consumes the
oldest, so a large object streams at several connections' speed. Memory stays
bounded however many objects are read at once: a reader always has one range of its
own (in flight or being consumed), and reads further ahead only with a token from
the engine's shared `read_ahead` budget. Every later range carries `If-Match` with the first
answer's ETag: an object replaced mid-read fails (412) instead of mixing contents.
Each range is retried on its own.

The first range always goes through the engine (a small object needs no other
request). The later ranges of a large object may go through `bulk`, a plain
function that fetches bytes [start, end] with If-Match (botocore, on the
`pool`'s threads): awscrt hands a body to Python 16 KiB at a time, which costs
about three times the CPU per byte of urllib3's large reads, so for bulk bytes a
few more milliseconds per request are the cheaper side.
"""

from __future__ import annotations

import concurrent.futures
import io
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from lib.leaves.retry import error_code

if TYPE_CHECKING:
    from lib.stores.crt.engine import Engine

PART_SIZE = 4 * 1024 * 1024
AHEAD = 4
Bulk = Callable[[int, int, str | None], bytes]  # (start, end inclusive, If-Match) -> bytes


class ObjectReader(io.RawIOBase):
    def __init__(
        self,
        engine: Engine,
        bucket: str,
        key: str,
        *,
        version_id: str | None = None,
        part_size: int = PART_SIZE,
        ahead: int = AHEAD,
        bulk: Bulk | None = None,
        pool: concurrent.futures.Executor | None = None,
    ) -> None:
        super().__init__()
        if (bulk is None) != (pool is None):
            raise TypeError("bulk reads need a pool to run on, and a pool needs bulk")
        self._bulk, self._pool = bulk, pool
        self.engine, self.bucket, self.key = engine, bucket, key
        self.version_id, self.part_size, self.ahead = version_id, part_size, max(1, ahead)
        self.size: int | None = None
        self.etag: str | None = None
        self.head: dict[str, Any] = {}  # the first answer (headers as HeadObject gives them)
        self._next = 0  # the first byte not yet asked for
        # (range GET, its length, whether it holds a read-ahead token) in offset order
        self._pending: deque[tuple[concurrent.futures.Future[Any], int, bool]] = deque()
        self._buffer = memoryview(b"")
        self._first()

    def _first(self) -> None:
        try:
            answer = self.engine.get(
                self.bucket, self.key, version_id=self.version_id,
                byte_range=(0, self.part_size - 1),
            )  # fmt: skip
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "InvalidRange":
                raise
            self.size = 0  # only an empty object has no byte 0
            return
        self.head = answer
        self.etag = answer.get("ETag")
        total = str(answer.get("ContentRange", "")).rpartition("/")[2]
        self.size = int(total) if total.isdigit() else int(answer.get("ContentLength", 0))
        self._buffer = memoryview(answer["Body"].read())
        self._next = len(self._buffer)
        self._fill()

    def _fill(self) -> None:
        assert self.size is not None
        while len(self._pending) < self.ahead and self._next < self.size:
            token = bool(self._pending) or bool(self._buffer)
            if token and not self.engine.read_ahead.acquire(blocking=False):
                return  # the budget is spent: read ahead again once a part is consumed
            end = min(self.size, self._next + self.part_size) - 1
            future: concurrent.futures.Future[Any]
            if self._bulk is not None and self._pool is not None:
                future = self._pool.submit(self._bulk, self._next, end, self.etag)
            else:
                future = self.engine.get_async(
                    self.bucket, self.key, version_id=self.version_id,
                    byte_range=(self._next, end), if_match=self.etag,
                )  # fmt: skip
            self._pending.append((future, end + 1 - self._next, token))
            self._next = end + 1

    def readable(self) -> bool:
        return True

    def _refill(self) -> bool:
        """The next range in the buffer once the buffer is spent; False at the end."""
        while not self._buffer:
            if not self._pending:
                self._fill()  # the reader's own range, which needs no token
                if not self._pending:
                    return False
            future, length, token = self._pending.popleft()
            try:
                result = future.result()
                data = result if isinstance(result, bytes) else result["Body"].read()
            finally:
                if token:
                    self.engine.read_ahead.release()
            if len(data) != length:  # a server that ignored Range sent the whole object
                raise OSError(
                    f"s3://{self.bucket}/{self.key}: asked for {length} bytes of a range, "
                    f"got {len(data)}"
                )
            self._buffer = memoryview(data)
            self._fill()
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._refill():
            return 0
        count = min(len(buffer), len(self._buffer))
        buffer[:count] = self._buffer[:count]
        self._buffer = self._buffer[count:]
        return count

    def read(self, size: int | None = -1) -> bytes:
        """Up to `size` bytes (all that is left if negative) with one copy, not the two of
        RawIOBase's read (into a new buffer, then out of it)."""
        if size is None or size < 0:
            return self.readall()
        if not self._refill():
            return b""
        piece = self._buffer[:size]
        self._buffer = self._buffer[len(piece) :]
        whole = piece.obj
        if isinstance(whole, bytes) and len(whole) == len(piece):
            return whole  # a whole range asked for: no copy (a reader of 4 MiB pieces)
        return piece.tobytes()

    def close(self) -> None:
        for future, _, token in self._pending:
            future.cancel()
            if token:
                self.engine.read_ahead.release()
        self._pending.clear()
        self._buffer = memoryview(b"")
        super().close()
