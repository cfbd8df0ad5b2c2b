"""s3-check's head and read modes: each expected record checked on its own.

`head` mode sends one HEAD per record, many in flight (the ordered window of
lib/engine/window.py keeps input order); `read` mode also streams each object whose HEAD
did not already show a mismatch, and recomputes its hashes. Input order does not
matter, and no `extra` is ever reported.

The cursor holds the input position after the last record whose result was yielded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lib.engine.window import ordered_results
from lib.io.ndjson import RecordReader, incomplete_input_note
from lib.leaves.flush import FLUSH, Flush
from lib.leaves.records import DataRecord, ErrorRecord
from lib.leaves.retry import describe, stops_the_run
from lib.pipelines.check import Check, CheckOptions, Expected, ExpectedInput, KeyMap, _record
from lib.pipelines.verify import Verdict
from lib.stores.protocol import Stores


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

    def cursor(self) -> dict[str, Any]:
        return self.expected.cursor(None)

    def __iter__(self) -> Iterator[DataRecord | Flush]:
        workers = max(1, self.options.concurrency)
        for item in ordered_results(
            self.expected, self._check_one, window=workers * 2, workers=workers, name="s3-check"
        ):
            if item is FLUSH:
                yield FLUSH
                continue
            (_, position), result = item
            self.expected.position = position
            yield result
        self.complete = self._input_ended_complete()
        self._note_shard()

    def _input_ended_complete(self) -> bool:
        note = incomplete_input_note(self.reader)
        if note is not None:
            self.notes.append(note)
        return note is None

    def _check_one(self, item: Expected) -> DataRecord:
        expected = item[0]
        if isinstance(expected, ErrorRecord):
            return expected
        try:
            bucket, key = self.keymap.locate(expected)
        except ValueError as exc:
            return _record(expected.bucket, expected.key, "error", expected, None, str(exc))
        store = self.stores.get(bucket)
        version = expected.version_id if self.keymap.target is None else None
        try:
            info = store.head(key, version)
        except Exception as exc:
            stop = stops_the_run(exc, "HeadObject", f"s3://{bucket}/{key}")
            if stop is not None:
                raise stop from None
            return _record(bucket, key, "error", expected, None, describe(exc))
        if info is None:
            return _record(bucket, key, "missing", expected, None, None)
        verdict: Verdict = self.verifier.compare(expected, info.record)
        if verdict[0] == "unverified":
            verdict = self.verifier.compare_checksums(expected, info) or verdict
        if self.options.mode == "read" and verdict[0] in ("ok", "unverified"):
            verdict, _ = self.verifier.read(expected, store, info)
        return _record(bucket, key, verdict[0], expected, info.record, verdict[1])
