"""s3-check's head and read modes: each expected record checked on its own.

`head` mode sends one HEAD per record, many in flight (the ordered window of
lib/engine/window.py keeps input order); `read` mode also streams each object whose HEAD
did not already show a mismatch, and recomputes its hashes. Input order does not
matter, and no `extra` is ever reported.

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
from lib.leaves.records import DataRecord, ErrorRecord, ObjectRecord
from lib.leaves.retry import describe, stops_the_run
from lib.pipelines.check import Check, CheckOptions, Expected, ExpectedInput, KeyMap, _record
from lib.pipelines.verify import Verdict
from lib.stores.protocol import ObjectInfo, Store, Stores
from lib.stores.s3store import S3Store


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
        if self.options.mode == "head" and self.stores.objects and self.stores.objects.asynchronous:
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

    def _submit_head(self, item: Expected) -> concurrent.futures.Future[DataRecord]:
        """_check_one as a future: the HEAD's, judged as it completes."""
        judged: concurrent.futures.Future[DataRecord] = concurrent.futures.Future()
        located = self._locate(item)
        if not isinstance(located, Located) or not isinstance(located.store, S3Store):
            judged.set_result(self._check_one(item))  # nothing to send, or a local stat
            return judged

        def judge(info: ObjectInfo | None, verdict: Verdict | None) -> None:
            try:
                judged.set_result(self._judged(located, info, verdict))
            except BaseException as exc:
                judged.set_exception(exc)

        def done(head: concurrent.futures.Future[ObjectInfo | None]) -> None:
            if judged.cancelled():
                return  # the window was closed: nobody waits for this record
            try:
                info = head.result()
            except Exception as exc:
                try:
                    judged.set_result(self._failed(located, exc))
                except BaseException as stop:  # the run stops: raised at this record's turn
                    judged.set_exception(stop)
                return
            if info is None:
                judge(info, None)
            elif located.expected.bucket.startswith("/"):
                # A local expected file is hashed to compare: not on the engine's thread.
                assert self._more is not None
                self._more.submit(judge, info, None)
            else:
                verdict = self.verifier.compare(located.expected, info.record)
                if verdict[0] == "unverified":
                    assert self._more is not None
                    self._more.submit(judge, info, verdict)  # one more HEAD: on a thread
                else:
                    judge(info, verdict)

        located.store.head_async(located.key, located.version).add_done_callback(done)
        return judged

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
        self, located: Located, info: ObjectInfo | None, verdict: Verdict | None = None
    ) -> DataRecord:
        """The check record for what HEAD found; `verdict`: the metadata comparison,
        when the caller has already made it."""
        expected, bucket, key = located.expected, located.bucket, located.key
        if info is None:
            return _record(bucket, key, "missing", expected, None, None)
        if verdict is None:
            verdict = self.verifier.compare(expected, info.record)
        if verdict[0] == "unverified":
            verdict = self.verifier.compare_checksums(expected, info) or verdict
        if self.options.mode == "read" and verdict[0] in ("ok", "unverified"):
            verdict, _ = self.verifier.read(expected, located.store, info)
        return _record(bucket, key, verdict[0], expected, info.record, verdict[1])


@dataclass
class Located:
    """An expected object and where to look for it."""

    expected: ObjectRecord
    bucket: str
    key: str
    store: Store
    version: str | None
