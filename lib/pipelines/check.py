"""s3-check's pipelines: classify expected object records against a target.

Two pipelines share this module's parts: `ListCheck` (lib/pipelines/check_list.py) merge-joins
the key-sorted input with a live listing of the target and so also finds `extra`
objects; `ObjectCheck` (lib/pipelines/check_objects.py) checks each record on its own, by HEAD
(`head` mode) or by HEAD and download (`read` mode). `check_pipeline` picks one by
mode. Shared here: where a record is looked for (KeyMap), the reading of the expected
records and the cursor format (ExpectedInput), the check record, the summary counts
and the exit code.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lib.engine.shard import Shard, ShardFilter
from lib.io.ndjson import InputMark, InputPosition, RecordReader, input_cursor, resume_input
from lib.leaves.errors import ExitCode, UsageError
from lib.leaves.guidance import wrong_records
from lib.leaves.location import Location, parse_location
from lib.leaves.records import CheckRecord, DataRecord, ErrorRecord, ObjectRecord
from lib.pipelines.coverage import Coverage
from lib.pipelines.verify import Verifier
from lib.stores.protocol import Stores

if TYPE_CHECKING:
    pass

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


class ExpectedInput:
    """The input side of a check: the object records to check (latest versions only) and
    the error records to pass on, of this shard, each with the reader's mark after it.

    `seen` counts the object records of every shard; `position` is where the input
    stands after the last record whose result was yielded (the pipeline moves it). An
    error record also marks a hole in `coverage`, when the check has one, and `notes`
    get the line that says so the first time it leaves the coverage unknown.
    """

    def __init__(
        self,
        reader: RecordReader,
        keymap: KeyMap,
        shard: Shard | None,
        cursor: dict[str, Any],
        coverage: Coverage | None = None,
        notes: list[str] | None = None,
    ) -> None:
        self.reader = reader
        self.keymap = keymap
        self.shard = ShardFilter(shard)
        self.seen: int = cursor.get("seen", 0)
        self.position: InputPosition | InputMark | None = resume_input(reader, cursor)
        self._sharded = shard is not None
        self._coverage = coverage
        self._notes = notes

    def cursor(self, last_key: str | None, **more: Any) -> dict[str, Any]:
        """A check's cursor: `seen`, the last target key yielded (None in head and read
        modes, which keep the one format), the pipeline's `more`, and the input position."""
        cursor: dict[str, Any] = {"seen": self.seen, "last_key": last_key, **more}
        cursor.update(input_cursor(self.position))
        return cursor

    def __iter__(self) -> Iterator[Expected]:
        reader = self.reader
        keeps = self.shard.keeps
        for record in reader:
            match record:
                case ObjectRecord(delete_marker=False, is_latest=True):
                    self.seen += 1
                    if not self._sharded or keeps(self._output_key(record)):
                        yield record, reader.mark()
                case ObjectRecord():
                    continue
                case ErrorRecord():
                    if self._coverage is not None:
                        note = self._coverage.add_hole(record, reader.lines)  # in every shard
                        if note and self._notes is not None:
                            self._notes.append(note)
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


class Check:
    """What both checks hold, and their common answers to the runner (lib/engine/runner.py's
    Pipeline); `expected` is set by each, as list mode gives it the input's coverage."""

    coverage: dict[str, Any] | None = None  # all the input's keys are checked
    expected: ExpectedInput

    def __init__(
        self, reader: RecordReader, keymap: KeyMap, stores: Stores, options: CheckOptions
    ) -> None:
        self.reader = reader
        self.keymap = keymap
        self.stores = stores
        self.options = options
        self.verifier = Verifier(stores, part_size=options.part_size)
        self.complete = False
        self.notes: list[str] = []

    def classify(self, record: DataRecord) -> tuple[str, int]:
        """Summary counts by status; bytes of the objects found."""
        if isinstance(record, CheckRecord):
            actual = record.actual
            return record.status, (actual.size or 0) if actual is not None else 0
        return "error", 0

    def _note_shard(self) -> None:
        note = self.expected.shard.note()
        if note:
            self.notes.append(note)


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
