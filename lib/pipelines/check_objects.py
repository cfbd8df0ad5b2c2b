"""s3-check's head and read modes: each expected record checked on its own.

`head` mode sends one HEAD per record, many in flight (the ordered window of
lib/engine/window.py keeps input order); `read` mode also streams each object whose HEAD
did not already show a mismatch, and recomputes its hashes. Input order does not
matter, and no `extra` is ever reported.

Through the request engine, read mode fetches an expected object of up to SMALL_READ
bytes with one GET (x-amz-checksum-mode on): its headers say what the HEAD would (size,
ETag, version, stored checksums), so the verdicts are the HEAD-then-read ones with half
the requests. The price: an object whose metadata mismatches is downloaded too, up to
SMALL_READ bytes: a larger body stops the download, and that object is judged as
without the GET (HEAD, then a read only if the HEAD shows no mismatch).

The cursor holds the input position after the last record whose result was yielded.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lib.engine.window import ordered_results
from lib.io.ndjson import RecordReader, incomplete_input_note
from lib.leaves.flush import FLUSH, Flush
from lib.leaves.hashing import etag_parts
from lib.leaves.records import DataRecord, ErrorRecord, ObjectRecord
from lib.leaves.retry import describe, stops_the_run
from lib.pipelines.check import Check, CheckOptions, Expected, ExpectedInput, KeyMap, _record
from lib.pipelines.verify import Verdict
from lib.stores.protocol import ObjectInfo, Store, Stores
from lib.stores.s3store import S3Store

SMALL_READ = 1024 * 1024  # read mode: an expected object up to this size is one GET


class ObjectCheck(Check):
    """The Pipeline of `--mode head` and `--mode read`."""

    def __init__(
        self,
        reader: RecordReader,
        keymap: KeyMap,
        stores: Stores,
        options: CheckOptions,
        cursor: dict[str, Any] | None,
    ) -> None:
        super().__init__(reader, keymap, stores, options)
        self.expected = ExpectedInput(reader, keymap, options.shard, cursor or {})
        self._more: concurrent.futures.ThreadPoolExecutor | None = None

    def cursor(self) -> dict[str, Any]:
        return self.expected.cursor(None)

    def __iter__(self) -> Iterator[DataRecord | Flush]:
        workers = max(1, self.options.concurrency)
        results: Iterator[tuple[Expected, DataRecord] | Flush]
        engine = bool(self.stores.objects and self.stores.objects.asynchronous)
        if self.options.mode == "read" and engine:
            # A small object is read with one GET through the engine (its headers say what
            # a HEAD would); a large one is read on a thread, as a file (lib/stores/crt).
            self._more = concurrent.futures.ThreadPoolExecutor(workers, "s3-check-read")
            results = ordered_results(self.expected, submit=self._submit_read, window=workers * 2)
        elif self.options.mode == "head" and engine:
            # HEADs through the request engine: its futures, no thread per request. A
            # verdict that needs another request (the expected object's checksums) is
            # finished on a thread: a callback must not wait for other requests.
            self._more = concurrent.futures.ThreadPoolExecutor(workers, "s3-check-more")
            results = ordered_results(self.expected, submit=self._submit_head, window=workers * 2)
        else:
            results = ordered_results(
                self.expected, self._check_one, window=workers * 2, workers=workers, name="s3-check"
            )
        try:
            for item in results:
                if item is FLUSH:
                    yield FLUSH
                    continue
                (_, position), result = item
                self.expected.position = position
                yield result
        finally:
            if self._more is not None:
                self._more.shutdown(wait=False, cancel_futures=True)
        self.complete = self._input_ended_complete()
        self._note_shard()

    def _input_ended_complete(self) -> bool:
        note = incomplete_input_note(self.reader)
        if note is not None:
            self.notes.append(note)
        return note is None

    def _check_one(self, item: Expected) -> DataRecord:
        located = self._locate(item)
        if not isinstance(located, Located):
            return located
        try:
            info = located.store.head(located.key, located.version)
        except Exception as exc:
            return self._failed(located, exc)
        return self._judged(located, info)

    def _submit_head(self, item: Expected) -> concurrent.futures.Future[Any]:
        """_check_one as a future: the HEAD's own, its answer judged on the engine's
        thread as it arrives. A verdict that needs more (another HEAD, or hashing a
        local file) goes on a thread: then the record is that thread's future, which
        ordered_results waits for in turn. A HEAD that failed is an `error` record, or
        the error that stops the run, raised at this record's turn."""
        located = self._locate(item)
        if not isinstance(located, Located) or not isinstance(located.store, S3Store):
            done: concurrent.futures.Future[DataRecord] = concurrent.futures.Future()
            done.set_result(self._check_one(item))  # nothing to send, or a local stat
            return done
        more = self._more
        assert more is not None

        def judge(info: ObjectInfo | None) -> DataRecord | concurrent.futures.Future[DataRecord]:
            try:
                if info is None:
                    return self._judged(located, None)
                if located.expected.bucket.startswith("/"):
                    return more.submit(self._judged, located, info)  # hashes the local file
                verdict = self.verifier.compare(located.expected, info.record)
                if verdict[0] == "unverified":
                    return more.submit(self._judged, located, info, verdict)  # one more HEAD
                return self._judged(located, info, verdict)
            except Exception as exc:  # not the HEAD's failure: raised at this record's turn
                return _raised(exc)

        return located.store.head_async(
            located.key, located.version, judge=judge, failed=lambda exc: self._failed(located, exc)
        )

    def _submit_read(self, item: Expected) -> concurrent.futures.Future[Any]:
        """_check_one in read mode as a future. An expected object of up to SMALL_READ
        bytes is fetched with one GET, and judged from its headers (as the HEAD's) and
        body: one request instead of two, and no thread while it is in flight. A GET that
        fails, and every other object, take _check_one's way on a thread (HEAD, then the
        object read as a file); so do verdicts that need more requests or a local file."""
        assert self._more is not None
        more = self._more
        located = self._locate(item)
        if (
            not isinstance(located, Located)
            or not isinstance(located.store, S3Store)
            or located.expected.size is None
            or located.expected.size > SMALL_READ
        ):
            return more.submit(self._check_one, item)
        body = BodyBuffer(SMALL_READ)

        def judge(info: ObjectInfo | None) -> DataRecord | concurrent.futures.Future[DataRecord]:
            # On the engine's thread, as the GET ends; what needs more goes on a thread.
            try:
                if info is None:
                    return self._judged(located, None)  # missing
                if located.expected.bucket.startswith("/"):
                    # A local expected file is hashed to compare.
                    return more.submit(self._judged, located, info, None, body.data())
                verdict = self.verifier.compare(located.expected, info.record)
                if verdict[0] not in ("ok", "unverified"):
                    return self._judged(located, info, verdict)  # a mismatch: no bytes needed
                if verdict[0] == "ok" and etag_parts(info.record.etag) == 0 and body.whole:
                    # Equal plain ETags: the bytes are hashed, no request.
                    return self._judged(located, info, verdict, body.data())
                # A part layout or checksums to ask for.
                return more.submit(self._judged, located, info, verdict, body.data())
            except Exception as exc:  # not the GET's failure: raised at this record's turn
                return _raised(exc)

        def failed(_: Exception) -> concurrent.futures.Future[DataRecord]:
            # Judged as without the GET, on a thread (HEAD, then a read), with its errors.
            return more.submit(self._check_one, item)

        return located.store.get_async(
            located.key, located.version, body, judge=judge, failed=failed
        )

    def _locate(self, item: Expected) -> Located | DataRecord:
        """Where the expected object is, or the record that says why it cannot be looked at."""
        expected = item[0]
        if isinstance(expected, ErrorRecord):
            return expected
        try:
            bucket, key = self.keymap.locate(expected)
        except ValueError as exc:
            return _record(expected.bucket, expected.key, "error", expected, None, str(exc))
        version = expected.version_id if self.keymap.target is None else None
        return Located(expected, bucket, key, self.stores.get(bucket), version)

    def _failed(self, located: Located, exc: Exception) -> DataRecord:
        """A HEAD that failed: an `error` record, or the error that stops the run."""
        bucket, key = located.bucket, located.key
        stop = stops_the_run(exc, "HeadObject", f"s3://{bucket}/{key}")
        if stop is not None:
            raise stop from None
        return _record(bucket, key, "error", located.expected, None, describe(exc))

    def _judged(
        self,
        located: Located,
        info: ObjectInfo | None,
        verdict: Verdict | None = None,
        body: bytes | None = None,
    ) -> DataRecord:
        """The check record for what HEAD found; `verdict`: the metadata comparison,
        when the caller has already made it; `body`: the object's bytes, when a GET
        brought them with `info` (read mode then reads nothing more)."""
        expected, bucket, key = located.expected, located.bucket, located.key
        if info is None:
            return _record(bucket, key, "missing", expected, None, None)
        if verdict is None:
            verdict = self.verifier.compare(expected, info.record)
        if verdict[0] == "unverified":
            verdict = self.verifier.compare_checksums(expected, info) or verdict
        if self.options.mode == "read" and verdict[0] in ("ok", "unverified"):
            if body is not None:
                verdict = self.verifier.judge_body(expected, info, body)
            else:
                verdict, _ = self.verifier.read(expected, located.store, info)
        return _record(bucket, key, verdict[0], expected, info.record, verdict[1])


def _raised(error: Exception) -> concurrent.futures.Future[DataRecord]:
    """A future that ends with `error`: raised at its record's turn (ordered_results)."""
    raised: concurrent.futures.Future[DataRecord] = concurrent.futures.Future()
    raised.set_exception(error)
    return raised


class BodyBuffer:
    """A GET's sink (lib/stores/crt/calls.py) that keeps a body of up to `limit` bytes and
    refuses the rest: the engine then stops the download (an object that grew far past
    what was expected is neither held in memory nor downloaded)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chunks: list[bytes] = []
        self.kept = self.received = 0

    def write(self, chunk: bytes) -> bool:
        self.received += len(chunk)
        if self.kept + len(chunk) > self.limit:
            return False
        self.chunks.append(chunk)
        self.kept += len(chunk)
        return True

    def reset(self) -> None:
        self.chunks.clear()
        self.kept = self.received = 0

    @property
    def whole(self) -> bool:
        return self.kept == self.received

    def data(self) -> bytes | None:
        """The whole body, or None when only part of it was kept."""
        return b"".join(self.chunks) if self.whole else None


@dataclass
class Located:
    """An expected object and where to look for it."""

    expected: ObjectRecord
    bucket: str
    key: str
    store: Store
    version: str | None
