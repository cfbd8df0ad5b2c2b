"""s3-check's pipeline: classify expected object records against a target.

`list` mode merge-joins the key-sorted input with a live listing of the target
(one request per 1000 keys, memory independent of the object count) and so also
finds `extra` objects. With `parallel` > 1 an S3 target is listed as ordered key
ranges on that many streams (lib/ranges.py); the listing, and so the output, is
the same. `head` mode sends one HEAD per record, many in flight;
`read` mode also streams each object and recomputes its hashes.

The cursor, taken whenever the pipeline is suspended at a yield, holds the input
position after the last expected record whose result was yielded and the last
target key yielded, so a resumed run relists after that key and rereads the
input from there.

With a shard, both sides keep only the target keys that hash to it: an expected
record by its mapped key, a listed object by its key. A matching pair has one key,
so it lands in one shard, and no shard calls another's object `extra`.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

from lib.coverage import Coverage
from lib.errors import BadInput, ExitCode, UsageError
from lib.flush import FLUSH, Flush
from lib.guidance import wrong_records
from lib.location import Location, parse_location
from lib.ndjson import (
    InputMark,
    InputPosition,
    RecordReader,
    incomplete_input_note,
    input_cursor,
    resume_input,
)
from lib.records import CheckRecord, DataRecord, ErrorRecord, ObjectRecord
from lib.retry import describe, stops_the_run
from lib.shard import Shard, ShardFilter
from lib.stores import Stores
from lib.verify import Verdict, Verifier
from lib.window import ordered_window

STATUSES = (
    "ok",
    "missing",
    "extra",
    "size_mismatch",
    "etag_mismatch",
    "checksum_mismatch",
    "unverified",
    "unreadable",
    "error",
)
MODES = ("list", "head", "read")

Expected = tuple[ObjectRecord | ErrorRecord, InputMark]


@dataclass
class CheckOptions:
    mode: str = "list"
    part_size: int | None = None
    concurrency: int = 16
    page_size: int = 1000
    parallel: int = 1  # list mode, S3: key ranges of the target listed at once
    shard: Shard | None = None


class KeyMap:
    """Where an expected record is looked for: its own location, or under TARGET."""

    def __init__(self, source: Location | None, target: Location | None) -> None:
        self.source_prefix = source.prefix if source is not None else ""
        self.target = target

    def locate(self, record: ObjectRecord) -> tuple[str, str]:
        """(bucket, key) of the record's counterpart in the target."""
        if self.target is None:
            return record.bucket, record.key
        if not record.key.startswith(self.source_prefix):
            raise ValueError(f"key is outside the input's source prefix {self.source_prefix!r}")
        return self.target.bucket, self.target.prefix + record.key[len(self.source_prefix) :]


class CheckPipeline:
    coverage: dict[str, Any] | None = None  # all the input's keys are checked

    def __init__(
        self,
        reader: RecordReader,
        keymap: KeyMap,
        listing: Location | None,
        stores: Stores,
        options: CheckOptions,
        cursor: dict[str, Any] | None,
    ) -> None:
        self.reader = reader
        self.keymap = keymap
        self.listing = listing
        self.stores = stores
        self.options = options
        self.verifier = Verifier(stores, part_size=options.part_size)
        self.complete = False
        self.notes: list[str] = []
        self.shard = ShardFilter(options.shard)
        cursor = cursor or {}
        self._last_key: str | None = cursor.get("last_key")
        self._seen: int = cursor.get("seen", 0)
        # A local target's walk may leave holes: the last one met, and how many.
        self._hole: str | None = cursor.get("hole")
        self._holes: int = cursor.get("holes", 0)
        self._position: InputPosition | InputMark | None = resume_input(reader, cursor)
        self.input_coverage = Coverage.of(
            reader.header, keymap.source_prefix, listing.prefix if listing else ""
        )
        note = self.input_coverage.note() if listing is not None else None
        if note:
            self.notes.append(note)

    def cursor(self) -> dict[str, Any]:
        cursor: dict[str, Any] = {"seen": self._seen, "last_key": self._last_key}
        if self._holes:
            cursor.update(hole=self._hole, holes=self._holes)
        cursor.update(input_cursor(self._position))
        return cursor

    def classify(self, record: DataRecord) -> tuple[str, int]:
        """Summary counts by status; bytes of the objects found."""
        if isinstance(record, CheckRecord):
            actual = record.actual
            return record.status, (actual.size or 0) if actual is not None else 0
        return "error", 0

    def __iter__(self) -> Iterator[DataRecord | Flush]:
        if self.options.mode == "list":
            yield from self._merge_with_listing()
        else:
            yield from self._one_by_one()
        note = self.shard.note()
        if note:
            self.notes.append(note)

    # --- input -------------------------------------------------------------------

    def _expected(self) -> Iterator[Expected]:
        """Object records to check (latest versions only) and error records to pass on,
        of this shard; `_seen` counts the object records of every shard."""
        reader = self.reader
        keeps = self.shard.keeps
        sharded = self.options.shard is not None
        for record in reader:
            match record:
                case ObjectRecord(delete_marker=False, is_latest=True):
                    self._seen += 1
                    if not sharded or keeps(self._output_key(record)):
                        yield record, reader.mark()
                case ObjectRecord():
                    continue
                case ErrorRecord():
                    note = self.input_coverage.add_hole(record, reader.lines)  # in every shard
                    if note and self.listing is not None:
                        self.notes.append(note)
                    if keeps(None):
                        yield record, reader.mark()
                case _:
                    raise wrong_records("s3-check", reader.lines, record)

    def _output_key(self, record: ObjectRecord) -> str:
        """The key of the check record written for `record`: the one a shard hashes."""
        try:
            return self.keymap.locate(record)[1]
        except ValueError:
            return record.key

    def _advance(self, position: InputMark | None, key: str | None) -> None:
        """Moves the cursor past a record about to be yielded."""
        if position is not None:
            self._position = position
        if key is not None:
            self._last_key = key

    # --- list mode -----------------------------------------------------------------

    def _merge_with_listing(self) -> Iterator[DataRecord | Flush]:
        assert self.listing is not None
        listing = self._listing()
        if self.options.shard is not None:
            listing = _owned(listing, self.options.shard)
        actual = yield from _next_actual(listing)
        previous: ObjectRecord | None = None
        for expected, position in self._expected():
            if isinstance(expected, ErrorRecord):
                self._advance(position, None)
                yield expected
                continue
            try:
                bucket, key = self.keymap.locate(expected)
            except ValueError as exc:
                self._advance(position, None)
                yield _record(self.listing.bucket, expected.key, "error", expected, None, str(exc))
                continue
            if self._last_key is not None and key < self._last_key:
                raise BadInput(
                    self.reader.lines,
                    f"the input is not sorted by key ({key!r} comes after {self._last_key!r}); "
                    "list mode needs S3 key order: use --mode head for unsorted input",
                )
            while actual is not None and (actual.key or "") < key:
                yield from self._unexpected(actual)
                actual = yield from _next_actual(listing)
            if isinstance(actual, ErrorRecord) and actual.key == key:
                yield from self._unexpected(actual)
                actual = yield from _next_actual(listing)
            if actual is not None and actual.key == key:
                assert isinstance(actual, ObjectRecord)
                previous = actual
                actual = yield from _next_actual(listing)
            elif previous is not None and previous.key != key:
                previous = None  # a repeated expected key reuses the match of its first
            if self._in_hole(key):
                why = f"not checked: the target walk could not cover {self._hole!r}"
                result = _record(bucket, key, "error", expected, None, why)
            elif previous is not None:
                status, detail = self.verifier.compare(expected, previous)
                result = _record(bucket, key, status, expected, previous, detail)
            else:
                result = _record(bucket, key, "missing", expected, None, None)
            self._advance(position, key)
            yield result
        summary = self.reader.summary
        if summary is None or not summary.complete or self._seen == 0:
            why = "is empty" if self._seen == 0 else "did not end with a complete summary"
            self.notes.append(
                f"the input {why}, so keys after the last expected key were not checked "
                "for extras; rerun on a complete manifest"
            )
            return
        while actual is not None:
            yield from self._unexpected(actual)
            actual = yield from _next_actual(listing)
        self.complete = not self._holes

    def _unexpected(self, actual: ObjectRecord | ErrorRecord) -> Iterator[CheckRecord]:
        """A listed object no expected record names (`extra` if the input covers it), or a
        hole in the listing (an `error` record for it; expected keys in it are not called
        `missing`)."""
        assert self.listing is not None and actual.key is not None
        self._advance(None, actual.key)
        if isinstance(actual, ErrorRecord):
            self._hole = actual.key
            self._holes += 1
            yield _record(self.listing.bucket, actual.key, "error", None, None, actual.message)
        elif self.input_coverage.holds(actual.key):
            yield _record(self.listing.bucket, actual.key, "extra", None, actual, None)

    def _in_hole(self, key: str) -> bool:
        """Whether a key lies in the last hole of the target's listing (a file or a
        directory prefix ending in `/`)."""
        hole = self._hole
        return hole is not None and (key == hole or (hole.endswith("/") and key.startswith(hole)))

    def _listing(self) -> Iterator[DataRecord | Flush]:
        """The target's objects after the cursor's last key, in key order."""
        assert self.listing is not None
        store = self.stores.at(self.listing)
        return iter(
            store.list(
                self._last_key, streams=self.options.parallel, page_size=self.options.page_size
            )
        )

    # --- head and read modes -------------------------------------------------------

    def _one_by_one(self) -> Iterator[DataRecord | Flush]:
        window = max(1, self.options.concurrency)
        with concurrent.futures.ThreadPoolExecutor(window, thread_name_prefix="s3-check") as pool:
            try:
                for item in ordered_window(
                    self._expected(), self._check_one, pool=pool, window=window * 2
                ):
                    if item is FLUSH:
                        yield FLUSH
                        continue
                    (_, position), future = item
                    result = future.result()
                    self._advance(position, None)
                    yield result
            finally:
                pool.shutdown(wait=False, cancel_futures=True)
        self.complete = self._input_ended_complete()

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


def _owned(listing: Iterator[DataRecord | Flush], shard: Shard) -> Iterator[DataRecord | Flush]:
    """The listed objects whose key hashes to `shard` (flush markers pass through)."""
    for item in listing:
        if item is FLUSH or not isinstance(item, ObjectRecord) or shard.keeps(item.key):
            yield item


def _next_actual(
    listing: Iterator[DataRecord | Flush],
) -> Generator[Flush, None, ObjectRecord | ErrorRecord | None]:
    """The next listed object or hole (an error record with a key), passing flush markers
    up while the listing waits."""
    for item in listing:
        if item is FLUSH:
            yield FLUSH
        elif isinstance(item, ObjectRecord) or (
            isinstance(item, ErrorRecord) and item.key is not None
        ):
            return item
    return None


def _record(
    bucket: str,
    key: str,
    status: str,
    expected: ObjectRecord | None,
    actual: ObjectRecord | None,
    detail: str | None,
) -> CheckRecord:
    version = expected.version_id if expected is not None else None
    return CheckRecord(
        bucket=bucket,
        key=key,
        version_id=version,
        status=status,
        expected=expected,
        actual=actual,
        detail=detail,
    )


def listing_location(target: Location | None, source: Location | None) -> Location:
    """What list mode lists: TARGET, or the input's own source location."""
    if target is not None:
        return target
    if source is None:
        raise UsageError(
            "list mode without TARGET needs the input's header to know what to list",
            hint="give TARGET, or use --mode head",
        )
    return source


def source_of(header_source: str | None) -> Location | None:
    return parse_location(header_source) if header_source else None


def judge(counts: dict[str, int], complete: bool) -> ExitCode:
    all_ok = all(status == "ok" for status, n in counts.items() if n)
    return ExitCode.OK if complete and all_ok else ExitCode.NOT_OK
