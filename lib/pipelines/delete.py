"""s3-delete's pipeline: batched, guarded, resumable deletion.

Input records become "units": up to `batch_size` deletable keys plus whatever
records fall between them (out of scope, skipped, dry run), so one unit's results
come back in input order. Units run in a sliding window (one `Store.delete_many`
each: one DeleteObjects request on S3) whose width adapts: throttling halves it,
each success widens it by one again up to the configured concurrency. The pipeline
batches, guards (scope, --max-delete, shard) and counts; the store deletes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lib.engine.shard import Shard, ShardFilter
from lib.engine.window import AdaptiveWindow, ordered_results
from lib.io.ndjson import (
    InputPosition,
    RecordReader,
    incomplete_input_note,
    input_cursor,
    resume_input,
)
from lib.leaves.errors import BadInput, ExitCode
from lib.leaves.flush import FLUSH, Flush
from lib.leaves.guidance import check_records_need_status, wrong_records
from lib.leaves.location import Location
from lib.leaves.records import CheckRecord, DataRecord, DeleteRecord, ErrorRecord, ObjectRecord
from lib.stores.protocol import Deletion, Store

ISSUED = ("deleted", "failed", "dry_run")  # what --max-delete counts


@dataclass
class DeleteOptions:
    statuses: frozenset[str] = frozenset()
    dry_run: bool = False
    max_delete: int | None = None
    batch_size: int = 1000
    concurrency: int = 10
    shard: Shard | None = None


@dataclass
class Target:
    """One record's deletion: where, and where its result goes."""

    bucket: str
    key: str
    version_id: str | None
    position: InputPosition
    size: int = 0
    result: DeleteRecord | ErrorRecord | None = None  # set at once if nothing to delete


@dataclass
class Unit:
    entries: list[Target] = field(default_factory=list)
    deletable: list[Target] = field(default_factory=list)


class DeletePipeline:
    coverage: dict[str, Any] | None = None  # all the input's records are acted on

    def __init__(
        self,
        reader: RecordReader,
        store: Store,
        options: DeleteOptions,
        cursor: dict[str, Any] | None,
    ) -> None:
        self.reader = reader
        self.store = store
        self.scope: Location = store.location
        self.options = options
        self.complete = False
        self.notes: list[str] = []
        self.window = AdaptiveWindow(options.concurrency)
        self.shard = ShardFilter(options.shard)
        cursor = cursor or {}
        self._issued: int = cursor.get("issued", 0)  # deletions decided (for --max-delete)
        self._issued_output = self._issued  # of which written out: what the cursor records
        self._guard_hit = False
        self.markers_created = 0
        self.versioned = False
        self._yielded_size = 0  # the input's size for the record last yielded (classify)
        self._position = resume_input(reader, cursor)

    def cursor(self) -> dict[str, Any]:
        cursor: dict[str, Any] = {"issued": self._issued_output}
        cursor.update(input_cursor(self._position))
        return cursor

    # --- input to units -------------------------------------------------------------

    def _target(self, record: DataRecord, position: InputPosition) -> Target:
        match record:
            case ObjectRecord():
                target = Target(
                    record.bucket, record.key, record.version_id, position, record.size or 0
                )
                if record.delete_marker and record.version_id is None:
                    target.result = self._result(target, "skipped", "a delete marker without id")
                return target
            case CheckRecord():
                if not self.options.statuses:
                    raise check_records_need_status(self.reader.lines)
                size = record.actual.size or 0 if record.actual is not None else 0
                target = Target(record.bucket, record.key, record.version_id, position, size)
                if record.status not in self.options.statuses:
                    target.result = self._result(target, "skipped", None)
                return target
            case ErrorRecord():
                target = Target("", "", None, position, result=record)
                return target
            case _:
                raise wrong_records("s3-delete", self.reader.lines, record)

    def _in_scope(self, target: Target) -> bool:
        return target.bucket == self.scope.bucket and target.key.startswith(self.scope.prefix)

    def _units(self) -> Iterator[Unit]:
        unit = Unit()
        try:
            yield from self._fill_units(unit)
        except BadInput:
            # Act on every record before a bad line (and on nothing after it).
            if unit.entries:
                yield unit
            raise

    def _fill_units(self, unit: Unit) -> Iterator[Unit]:
        """Units of input records; `unit` is the one being filled, replaced as it is yielded."""
        options = self.options
        keeps = self.shard.keeps
        for record in self.reader:
            target = self._target(record, self.reader.position())
            if not keeps(None if isinstance(record, ErrorRecord) else target.key):
                continue
            if target.result is None:
                if not self._in_scope(target):
                    target.result = self._result(target, "out_of_scope", None)
                elif options.max_delete is not None and self._issued >= options.max_delete:
                    self._guard_hit = True
                    break
                elif options.dry_run:
                    self._issued += 1
                    target.result = self._result(target, "dry_run", None)
                else:
                    self._issued += 1
                    unit.deletable.append(target)
            unit.entries.append(target)
            if len(unit.deletable) >= options.batch_size:
                yield Unit(unit.entries, unit.deletable)
                unit.entries, unit.deletable = [], []
        if unit.entries:
            yield Unit(unit.entries, unit.deletable)
            unit.entries, unit.deletable = [], []

    # --- running units --------------------------------------------------------------

    def __iter__(self) -> Iterator[DataRecord | Flush]:
        if not self.options.dry_run:
            self.versioned = self.store.versioned()
        for item in ordered_results(
            self._units(), self._run_unit, window=self.window, name="s3-delete"
        ):
            if item is FLUSH:
                yield FLUSH
                continue
            unit, _ = item
            for target in unit.entries:
                result = target.result
                assert result is not None
                if isinstance(result, DeleteRecord) and result.status in ISSUED:
                    self._issued_output += 1
                    if self.versioned and result.version_id is None:
                        self.markers_created += 1
                self._position = target.position
                self._yielded_size = target.size
                yield result
        note = self.shard.note()
        if note:
            self.notes.append(note)
        if self._guard_hit:
            self.notes.append(
                f"--max-delete {self.options.max_delete} reached: stopped before deleting more"
            )
            return
        if self.markers_created:
            self.notes.append(
                f"the bucket is versioned: {self.markers_created} deletions without a version id "
                "created delete markers (the data is still there as older versions)"
            )
        cut = incomplete_input_note(self.reader)
        if cut is not None:
            self.notes.append(cut)
        self.complete = cut is None

    def _run_unit(self, unit: Unit) -> None:
        if not unit.deletable:
            return
        deletions = [Deletion(target.key, target.version_id) for target in unit.deletable]
        self.store.delete_many(deletions, self.window)
        for target, deletion in zip(unit.deletable, deletions, strict=True):
            target.result = self._result(target, deletion.status, deletion.error)

    def classify(self, record: DataRecord) -> tuple[str, int]:
        """Summary counts by status; bytes of what was deleted, from the input record's
        size (a delete record has none): the runner classifies a record at its yield."""
        if isinstance(record, DeleteRecord):
            return record.status, self._yielded_size if record.status == "deleted" else 0
        return "error", 0

    def _result(self, target: Target, status: str, error: str | None) -> DeleteRecord:
        return DeleteRecord(
            bucket=target.bucket,
            key=target.key,
            version_id=target.version_id,
            status=status,
            error=error,
        )


def judge(counts: dict[str, int], complete: bool) -> ExitCode:
    bad = {"failed", "out_of_scope", "error"}
    return ExitCode.OK if complete and not any(counts.get(s) for s in bad) else ExitCode.NOT_OK
