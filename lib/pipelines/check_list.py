"""s3-check's list mode: merge-join the key-sorted input with a live listing of the target.

One listing request per 1000 keys and memory independent of the object count; being
a merge, it also finds `extra` objects (only inside what the input covers,
lib/pipelines/coverage.py). With `parallel` > 1 an S3 target is listed as ordered key ranges on
that many streams (lib/stores/ranges.py); the listing, and so the output, is the same.

The cursor, taken whenever the pipeline is suspended at a yield, holds the input
position after the last expected record whose result was yielded and the last
target key yielded, so a resumed run relists after that key and rereads the input
from there. A local target's walk may leave holes (error records with a key): the
last one met and how many go in the cursor too.

With a shard, both sides keep only the target keys that hash to it: an expected
record by its mapped key, a listed object by its key. A matching pair has one key,
so it lands in one shard, and no shard calls another's object `extra`.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

from lib.engine.shard import Shard
from lib.io.ndjson import InputMark, RecordReader
from lib.leaves.errors import BadInput
from lib.leaves.flush import FLUSH, Flush
from lib.leaves.location import Location
from lib.leaves.records import CheckRecord, DataRecord, ErrorRecord, ObjectRecord
from lib.pipelines.check import Check, CheckOptions, ExpectedInput, KeyMap, _record
from lib.pipelines.coverage import Coverage
from lib.stores.protocol import Stores


class ListCheck(Check):
    """The Pipeline of `--mode list`."""

    def __init__(
        self,
        reader: RecordReader,
        keymap: KeyMap,
        listing: Location,
        stores: Stores,
        options: CheckOptions,
        cursor: dict[str, Any] | None,
    ) -> None:
        super().__init__(reader, keymap, stores, options)
        self.listing = listing
        cursor = cursor or {}
        self._last_key: str | None = cursor.get("last_key")
        # A local target's walk may leave holes: the last one met, and how many.
        self._hole: str | None = cursor.get("hole")
        self._holes: int = cursor.get("holes", 0)
        self.input_coverage = Coverage.of(reader.header, keymap.source_prefix, listing.prefix)
        self.expected = ExpectedInput(
            reader, keymap, options.shard, cursor, self.input_coverage, self.notes
        )
        note = self.input_coverage.note()
        if note:
            self.notes.append(note)

    def cursor(self) -> dict[str, Any]:
        holes = {"hole": self._hole, "holes": self._holes} if self._holes else {}
        return self.expected.cursor(self._last_key, **holes)

    def __iter__(self) -> Iterator[DataRecord | Flush]:
        yield from self._merge_with_listing()
        self._note_shard()

    def _advance(self, position: InputMark | None, key: str | None) -> None:
        """Moves the cursor past a record about to be yielded."""
        if position is not None:
            self.expected.position = position
        if key is not None:
            self._last_key = key

    def _merge_with_listing(self) -> Iterator[DataRecord | Flush]:
        listing = self._listing()
        if self.options.shard is not None:
            listing = _owned(listing, self.options.shard)
        actual = yield from _next_actual(listing)
        previous: ObjectRecord | None = None
        for expected, position in self.expected:
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
        if summary is None or not summary.complete or self.expected.seen == 0:
            why = "is empty" if self.expected.seen == 0 else "did not end with a complete summary"
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
        assert actual.key is not None
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
