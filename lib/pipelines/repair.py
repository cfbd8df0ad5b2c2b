"""s3-repair's pipeline: make TARGET whole again from SOURCE, one check record at a time.

For each record to act on: re-check the target (a replayed repair must not copy
twice), check that the source still is what the manifest expected, copy, then
verify what was written. Objects run in a sliding window; results keep input
order. The cursor carries the input position and the open multipart uploads.

The two checks before a copy are answered from listing pages where the input
allows (lib/pipelines/listed.py: keys in order and dense), else by a HEAD each; a
CopyObject whose answer carries the MD5 the manifest expected needs no HEAD after.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from lib.engine.shard import Shard, ShardFilter
from lib.engine.window import ordered_results
from lib.io.localpath import RefusedPath
from lib.io.ndjson import (
    InputPosition,
    RecordReader,
    incomplete_input_note,
    input_cursor,
    resume_input,
)
from lib.leaves.errors import ExitCode
from lib.leaves.flush import FLUSH, Flush
from lib.leaves.guidance import wrong_records
from lib.leaves.location import Location
from lib.leaves.records import (
    CheckRecord,
    DataRecord,
    ErrorRecord,
    ObjectRecord,
    RepairRecord,
    Source,
)
from lib.leaves.retry import describe, stops_the_run
from lib.pipelines.copier import Copied, Copier, SourceInfo
from lib.pipelines.listed import Listed
from lib.pipelines.verify import Verifier, existence_only
from lib.stores.transfer import Retrier, Timeouts, Uploads

REPAIRABLE = frozenset(
    {"missing", "size_mismatch", "etag_mismatch", "checksum_mismatch", "unreadable"}
)


@dataclass
class RepairOptions:
    statuses: frozenset[str] = REPAIRABLE
    dry_run: bool = False
    concurrency: int = 8
    shard: Shard | None = None


# A record to act on, where the input stood after it, and the key of the record before
# it within TARGET (None for the first): where a listing page for it starts.
Item = tuple[CheckRecord | ErrorRecord, InputPosition, str | None]


@dataclass
class Listings:
    """Listing pages that answer the checks before a copy, per side (None: a HEAD each)."""

    target: Listed | None = None
    source: Listed | None = None


class RepairPipeline:
    coverage: dict[str, Any] | None = None  # all the input's records are acted on

    def __init__(
        self,
        reader: RecordReader,
        target: Location,
        source: Location,
        copier: Copier,
        verifier: Verifier,
        options: RepairOptions,
        cursor: dict[str, Any] | None,
        listings: Listings | None = None,
    ) -> None:
        self.reader = reader
        self.listings = listings or Listings()
        self.target = target
        self.source = source
        self.copier = copier
        self.verifier = verifier
        self.options = options
        self.timeouts = Timeouts()
        self.complete = False
        self.notes: list[str] = []
        self.shard = ShardFilter(options.shard)
        cursor = cursor or {}
        self.uploads: Uploads = copier.uploads
        if "uploads" in cursor:
            self.uploads.open.update(Uploads.restore(cursor["uploads"]).open)
        self._position = resume_input(reader, cursor)

    def cursor(self) -> dict[str, Any]:
        cursor: dict[str, Any] = {"uploads": self.uploads.snapshot()}
        cursor.update(input_cursor(self._position))
        return cursor

    def classify(self, record: DataRecord) -> tuple[str, int]:
        """Summary counts by status; bytes copied."""
        if isinstance(record, RepairRecord):
            return record.status, record.bytes
        return "error", 0

    def _records(self) -> Iterator[Item]:
        keeps = self.shard.keeps
        target = self.target
        previous: str | None = None
        for record in self.reader:
            if isinstance(record, CheckRecord | ErrorRecord):
                if isinstance(record, ErrorRecord):
                    if keeps(None):
                        yield record, self.reader.position(), previous
                elif keeps(record.key):
                    yield record, self.reader.position(), previous
                    if record.bucket == target.bucket and record.key.startswith(target.prefix):
                        previous = record.key
            else:
                raise wrong_records("s3-repair", self.reader.lines, record)

    def __iter__(self) -> Iterator[DataRecord | Flush]:
        already_whole = 0
        for item in ordered_results(
            self._records(), self._repair, window=self.options.concurrency, name="s3-repair"
        ):
            if item is FLUSH:
                yield FLUSH
                continue
            (_, position, _), result = item
            self._position = position
            already_whole += isinstance(result, RepairRecord) and result.action == "none"
            yield result
        if already_whole:
            self.notes.append(
                f"{already_whole} skipped because the target already matches (nothing copied)"
            )
        note = self.shard.note()
        if note:
            self.notes.append(note)
        cut = incomplete_input_note(self.reader)
        if cut is not None:
            self.notes.append(cut)
        self.complete = cut is None

    # --- one record ------------------------------------------------------------------

    def _repair(self, item: Item) -> DataRecord:
        record, _, after = item
        if isinstance(record, ErrorRecord):
            return record
        target, source = self.target, self.source
        relative = record.key[len(target.prefix) :]
        source_ref = Source(bucket=source.bucket, key=source.prefix + relative)
        result = RepairRecord(bucket=record.bucket, key=record.key, status="skipped",
                              source=source_ref)  # fmt: skip
        if record.status not in self.options.statuses or record.expected is None:
            return result
        if record.bucket != target.bucket or not record.key.startswith(target.prefix):
            result.status, result.error = "failed", f"the record is outside TARGET {target}"
            return result
        problem = self.copier.target.key_problem(record.key) or self.copier.source.key_problem(
            source_ref.key
        )
        if problem:
            result.status, result.error = "failed", problem
            return result
        result.action = self.copier.planned_action(record.expected.size)
        if self.options.dry_run:
            result.status = "dry_run"
            return result
        retrier = Retrier(self.timeouts)
        started = time.monotonic()
        try:
            self._copy_verified(record, record.expected, source_ref.key, result, retrier, after)
        except RefusedPath as exc:  # a symlink on a local path, found as it was opened
            result.status, result.error = "failed", f"refused: {exc}"
        except Exception as exc:
            # Spent retries or refused credentials: stop (exit 3) with the upload kept in
            # the checkpoint; the rerun re-checks this record before it copies again.
            stop = stops_the_run(exc, "repair", f"s3://{record.bucket}/{record.key}")
            if stop is not None:
                raise stop from None
            result.status, result.error = "failed", describe(exc)
            if result.action in ("multipart_copy", "multipart_upload"):
                try:
                    self.copier.abort(record.key, retrier)
                except Exception as abort_error:
                    result.error += f"; aborting the upload failed too: {describe(abort_error)}"
        result.attempts = 1 + retrier.retries
        result.ms = int((time.monotonic() - started) * 1000)
        return result

    def _copy_verified(
        self,
        record: CheckRecord,
        expected: ObjectRecord,
        source_key: str,
        result: RepairRecord,
        retrier: Retrier,
        after: str | None,
    ) -> None:
        info: SourceInfo | None = None
        if existence_only(expected):
            # A record from a key list describes nothing: the source's own HEAD is what
            # the target must match, before (a replay copies nothing) and after the copy.
            info = self.copier.describe(source_key, retrier)
            if info is None:
                result.status, result.error = "failed", "the source object does not exist"
                return
            expected = msgspec.structs.replace(expected, size=info.size, etag=info.etag)
            result.action = self.copier.planned_action(info.size)
        whole = self.uploads.get(record.key) is None and self._target_is_whole(
            record.key, expected, after
        )
        if whole:
            # Already whole (a replayed repair copies nothing); `error` says why, as for
            # s3-delete's skipped records.
            result.action, result.error = "none", "the target already matches"
            return
        if after is not None:
            after = self.source.prefix + after[len(self.target.prefix) :]
        info = info or self._source_now(source_key, after, retrier)
        if info is None:
            result.status, result.error = "failed", "the source object does not exist"
            return
        problem = _source_problem(info, expected)
        if problem:
            result.status, result.error = "failed", problem
            return
        if self.listings.target is not None:
            self.listings.target.forget(record.key)  # asked again, it takes a HEAD
        copied = self.copier.copy(source_key, record.key, info, retrier)
        result.action, result.bytes = copied.action, copied.bytes
        problem = self._written_problem(record.key, info, expected, copied)
        if problem:
            result.status, result.error = "failed", f"verification failed: {problem}"
        else:
            result.status = "repaired"

    def _target_is_whole(self, key: str, expected: ObjectRecord, after: str | None) -> bool:
        listing = self.listings.target
        known, found = listing.lookup(key, after) if listing else (False, None)
        if not known:
            store = self.verifier.stores.get(self.target.bucket)
            info = store.head(key)
            found = info.record if info is not None else None
        return found is not None and self.verifier.compare(expected, found)[0] == "ok"

    def _source_now(self, key: str, after: str | None, retrier: Retrier) -> SourceInfo | None:
        """The source object as a copy needs it: from a listing page where that says all a
        single CopyObject needs (it copies type and metadata itself), else by a HEAD."""
        listing = self.listings.source
        known, found = listing.lookup(key, after) if listing else (False, None)
        if known and found is None:
            return None
        if found is not None and found.size is not None and self.copier.copies_whole(found.size):
            return SourceInfo(found.size, found.etag, None, storage_class=found.storage_class)
        return self.copier.describe(key, retrier)

    def _written_problem(
        self, key: str, info: SourceInfo, expected: ObjectRecord, copied: Copied
    ) -> str | None:
        if copied.confirmed() and (expected.etag is None or expected.etag == copied.etag):
            return None  # the write's own answer carries the MD5 the source had: no HEAD
        store = self.verifier.stores.get(self.target.bucket)
        written = store.head(key)
        if written is None:
            return "the object is not there after the copy"
        if written.record.size != info.size:
            return f"size is {written.record.size}, the source has {info.size}"
        etag = written.record.etag
        if etag is not None and copied.etag is not None and etag != copied.etag:
            # Some servers (rclone serve s3) give a multipart object the MD5 of its whole
            # content as ETag: then it must be the MD5 the manifest expected.
            whole_md5_matches = "-" in copied.etag and "-" not in etag and etag == expected.etag
            if not whole_md5_matches:
                return f"ETag is {etag}, the bytes sent have {copied.etag}"
        if (
            expected.etag
            and copied.etag
            and "-" not in expected.etag
            and "-" not in copied.etag
            and expected.etag != copied.etag
        ):
            return f"the content's MD5 is {copied.etag}, the manifest expected {expected.etag}"
        return None


def _source_problem(info: SourceInfo, expected: ObjectRecord) -> str | None:
    if expected.size is not None and info.size != expected.size:
        return f"the source has size {info.size}, the manifest expected {expected.size}"
    if (
        info.etag
        and expected.etag
        and ("-" in info.etag) == ("-" in expected.etag)
        and info.etag != expected.etag
    ):
        return f"the source has ETag {info.etag}, the manifest expected {expected.etag}"
    return None


def judge(counts: dict[str, int], complete: bool) -> ExitCode:
    return (
        ExitCode.OK
        if complete and not counts.get("failed") and not counts.get("error")
        else (ExitCode.NOT_OK)
    )
