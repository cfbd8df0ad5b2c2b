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

import concurrent.futures
import time
from collections.abc import Callable, Iterator
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
from lib.leaves.retry import backoff, describe, retryable, stops_the_run
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
# What listing pages say of a record's target (None: no such object) and source.
Answers = tuple[ObjectRecord | None, ObjectRecord]


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
        pool = concurrent.futures.ThreadPoolExecutor(self.options.concurrency, "s3-repair")
        self._pool = pool
        try:
            for item in ordered_results(
                self._records(), submit=self._submit, window=self.options.concurrency
            ):
                if item is FLUSH:
                    yield FLUSH
                    continue
                (_, position, _), result = item
                self._position = position
                already_whole += isinstance(result, RepairRecord) and result.action == "none"
                yield result
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
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

    def _submit(self, item: Item) -> concurrent.futures.Future[Any]:
        """A record's repair: on the event-loop threads of the request engine when listing
        pages answer the checks before its copy and one CopyObject is all it takes (no
        thread waits for anything), else on a thread of the pool."""
        record, _, after = item
        answers = (
            self._answered_by_pages(record, after) if isinstance(record, CheckRecord) else None
        )
        if answers is not None and isinstance(record, CheckRecord):
            began = self._begin(record)
            if began.status == "skipped" and began.action == "copy":
                return self._repair_without_thread(item, record, began, answers)
        return self._pool.submit(self._repair, item)

    def _answered_by_pages(self, record: CheckRecord, after: str | None) -> Answers | None:
        """What listing pages say of the record's target and source, when they tell all a
        whole server-side copy needs to know; None when a HEAD must ask."""
        target, source = self.listings.target, self.listings.source
        expected = record.expected
        if target is None or source is None or expected is None or existence_only(expected):
            return None
        if record.status not in self.options.statuses or self.options.dry_run:
            return None
        if after is None or record.bucket != self.target.bucket:
            return None
        if not record.key.startswith(self.target.prefix):
            return None
        known, found = source.lookup(self._source_key(record.key), self._source_key(after))
        if not known or found is None or not self.copier.copies_whole(found.size or 0):
            return None
        known, whole = target.lookup(record.key, after)
        return (whole, found) if known else None

    def _begin(self, record: CheckRecord) -> RepairRecord:
        """The record's repair record: final unless its status is "skipped" and its
        action the planned one (then the copy is to be made)."""
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

    def _repair(self, item: Item) -> DataRecord:
        record, _, after = item
        if isinstance(record, ErrorRecord):
            return record
        result = self._begin(record)
        if result.status != "skipped" or result.action is None or record.expected is None:
            return result
        expected, source_key = record.expected, self._source_key(record.key)
        retrier = Retrier(self.timeouts)

        def check_copy_verify() -> None:
            info = self._before_copy(record, expected, source_key, result, retrier, after)
            if info is not None:
                wanted = expected
                if existence_only(expected):  # the source's HEAD is what to match
                    wanted = msgspec.structs.replace(expected, size=info.size, etag=info.etag)
                self._copy_and_verify(record.key, source_key, info, wanted, result, retrier)

        return self._guarded(record.key, result, retrier, time.monotonic(), check_copy_verify)

    def _guarded(
        self,
        key: str,
        result: RepairRecord,
        retrier: Retrier,
        started: float,
        work: Callable[[], None],
    ) -> RepairRecord:
        """Runs `work` (which fills in `result`), making its failures the record's."""
        try:
            work()
        except RefusedPath as exc:  # a symlink on a local path, found as it was opened
            result.status, result.error = "failed", f"refused: {exc}"
        except Exception as exc:
            # Spent retries or refused credentials: stop (exit 3) with the upload kept in
            # the checkpoint; the rerun re-checks this record before it copies again.
            stop = stops_the_run(exc, "repair", f"s3://{result.bucket}/{key}")
            if stop is not None:
                raise stop from None
            result.status, result.error = "failed", describe(exc)
            if result.action in ("multipart_copy", "multipart_upload"):
                try:
                    self.copier.abort(key, retrier)
                except Exception as abort_error:
                    result.error += f"; aborting the upload failed too: {describe(abort_error)}"
        result.attempts = 1 + retrier.retries
        result.ms = int((time.monotonic() - started) * 1000)
        return result

    def _source_key(self, key: str) -> str:
        return self.source.prefix + key[len(self.target.prefix) :]

    def _repair_without_thread(
        self, item: Item, record: CheckRecord, result: RepairRecord, answers: Answers
    ) -> concurrent.futures.Future[Any]:
        """The checks from listing pages, then one CopyObject through the engine; a thread
        only for what needs to wait: a HEAD after the copy, or a retry (then the record
        is that thread's future)."""
        started, retrier = time.monotonic(), Retrier(self.timeouts)
        expected, source_key = record.expected, self._source_key(record.key)
        assert expected is not None
        outcome: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def then_on_thread(work: Callable[[], None]) -> None:
            try:
                ran = self._pool.submit(self._guarded, record.key, result, retrier, started, work)
            except RuntimeError as exc:  # the pool is shut down: the stage is stopping
                _settle(outcome, exc)
                return
            _settle(outcome, ran)  # ordered_results waits in turn for the thread's record

        try:
            info = self._before_copy(
                record, expected, source_key, result, retrier, item[2], answers
            )
        except Exception:  # a HEAD after all (a page gone), and it failed: as a thread would
            return self._pool.submit(self._repair, item)
        if info is None:
            _settle(outcome, self._guarded(record.key, result, retrier, started, lambda: None))
            return outcome
        copying = self.copier.copy_async(source_key, record.key, info, self.timeouts)
        if copying is None:
            then_on_thread(lambda: self._copy_and_verify(record.key, source_key, info, expected,
                                                         result, retrier))  # fmt: skip
            return outcome

        def copied(done: concurrent.futures.Future[Copied]) -> None:
            try:
                answer = done.result()
            except Exception as exc:
                if not retryable(exc):
                    error = exc
                    then_on_thread(lambda: _raise(error))
                    return
                retrier.retries += 1  # then on as a thread would: backoff, copy again
                then_on_thread(
                    lambda: self._copy_and_verify(
                        record.key, source_key, info, expected, result, retrier, again=True
                    )
                )
                return
            if self._confirmed(expected, answer):
                result.action, result.bytes, result.status = answer.action, answer.bytes, "repaired"
                _settle(outcome, self._guarded(record.key, result, retrier, started, lambda: None))
            else:
                then_on_thread(lambda: self._after_copy(record.key, info, expected, answer, result))

        copying.add_done_callback(copied)
        return outcome

    def _before_copy(
        self,
        record: CheckRecord,
        expected: ObjectRecord,
        source_key: str,
        result: RepairRecord,
        retrier: Retrier,
        after: str | None,
        answers: Answers | None = None,
    ) -> SourceInfo | None:
        """What the source is now, when it is to be copied; None when `result` is final
        (the target is already whole, or the source is not what the manifest expected)."""
        info: SourceInfo | None = None
        if existence_only(expected):
            # A record from a key list describes nothing: the source's own HEAD is what
            # the target must match, before (a replay copies nothing) and after the copy.
            info = self.copier.describe(source_key, retrier)
            if info is None:
                result.status, result.error = "failed", "the source object does not exist"
                return None
            expected = msgspec.structs.replace(expected, size=info.size, etag=info.etag)
            result.action = self.copier.planned_action(info.size)
        whole = self.uploads.get(record.key) is None and self._target_is_whole(
            record.key, expected, after, answers
        )
        if whole:
            # Already whole (a replayed repair copies nothing); `error` says why, as for
            # s3-delete's skipped records.
            result.action, result.error = "none", "the target already matches"
            return None
        if after is not None:
            after = self.source.prefix + after[len(self.target.prefix) :]
        info = info or self._source_now(source_key, after, retrier, answers)
        if info is None:
            result.status, result.error = "failed", "the source object does not exist"
            return None
        problem = _source_problem(info, expected)
        if problem:
            result.status, result.error = "failed", problem
            return None
        if self.listings.target is not None:
            self.listings.target.forget(record.key)  # asked again, it takes a HEAD
        return info

    def _copy_and_verify(
        self,
        key: str,
        source_key: str,
        info: SourceInfo,
        expected: ObjectRecord,
        result: RepairRecord,
        retrier: Retrier,
        again: bool = False,
    ) -> None:
        """Copies and verifies; `again` after a failed attempt, so first waits as
        Retrier.call would."""
        if again:
            backoff(retrier.retries, base_s=0.2, cap_s=10.0)
        copied = self.copier.copy(source_key, key, info, retrier)
        self._after_copy(key, info, expected, copied, result)

    def _after_copy(
        self,
        key: str,
        info: SourceInfo,
        expected: ObjectRecord,
        copied: Copied,
        result: RepairRecord,
    ) -> None:
        result.action, result.bytes = copied.action, copied.bytes
        problem = self._written_problem(key, info, expected, copied)
        if problem:
            result.status, result.error = "failed", f"verification failed: {problem}"
        else:
            result.status = "repaired"

    @staticmethod
    def _confirmed(expected: ObjectRecord, copied: Copied) -> bool:
        """The write's own answer carries the MD5 the source had: no HEAD after it."""
        return copied.confirmed() and (expected.etag is None or expected.etag == copied.etag)

    def _target_is_whole(
        self, key: str, expected: ObjectRecord, after: str | None, answers: Answers | None
    ) -> bool:
        listing = self.listings.target
        if answers is not None:
            known, found = True, answers[0]
        else:
            known, found = listing.lookup(key, after) if listing else (False, None)
        if not known:
            store = self.verifier.stores.get(self.target.bucket)
            info = store.head(key)
            found = info.record if info is not None else None
        return found is not None and self.verifier.compare(expected, found)[0] == "ok"

    def _source_now(
        self, key: str, after: str | None, retrier: Retrier, answers: Answers | None
    ) -> SourceInfo | None:
        """The source object as a copy needs it: from a listing page where that says all a
        single CopyObject needs (it copies type and metadata itself), else by a HEAD."""
        listing = self.listings.source
        found: ObjectRecord | None = answers[1] if answers is not None else None
        known = answers is not None
        if not known:
            known, found = listing.lookup(key, after) if listing else (False, None)
        if known and found is None:
            return None
        if found is not None and found.size is not None and self.copier.copies_whole(found.size):
            return SourceInfo(found.size, found.etag, None, storage_class=found.storage_class)
        return self.copier.describe(key, retrier)

    def _written_problem(
        self, key: str, info: SourceInfo, expected: ObjectRecord, copied: Copied
    ) -> str | None:
        if self._confirmed(expected, copied):
            return None
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


def _raise(error: Exception) -> None:
    raise error


def _settle(
    outcome: concurrent.futures.Future[Any],
    value: DataRecord | concurrent.futures.Future[RepairRecord] | BaseException,
) -> None:
    """Ends `outcome` (with a thread's future: ordered_results waits for that in turn),
    unless the window gave up on it (cancelled as the stage stopped)."""
    try:
        if isinstance(value, BaseException):
            outcome.set_exception(value)
        else:
            outcome.set_result(value)
    except concurrent.futures.InvalidStateError:
        pass
