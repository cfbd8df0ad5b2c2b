"""The loop every stage shares: header, records, commits, progress, summary, exit code.

A stage supplies a `Pipeline` (below): an iterator of records that says, at any
point where it is suspended, how to continue right after the last record it
yielded, and how each record counts in the summary. The runner writes the
records, commits the checkpoint at least every 1000 records or 1 s, and turns
every ending (normal, fatal error, signal, broken pipe) into the right summary and
exit code.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from lib.engine import collector, interrupts
from lib.engine.logs import new_progress
from lib.engine.progress import Progress
from lib.io.batchcsv import writer_class
from lib.io.checkpoint import Checkpoint, CheckpointLock, CheckpointState
from lib.io.ndjson import RecordWriter, is_stream, open_output
from lib.leaves.errors import ExitCode, Interrupted, StageError, redact
from lib.leaves.flush import FLUSH, Flush
from lib.leaves.records import DataRecord, Header, Summary, utc_now

COMMIT_RECORDS = 1000
COMMIT_SECONDS = 1.0


class Pipeline(Protocol):
    """Everything the runner asks of a stage's pipeline.

    Iterating yields records, or FLUSH (lib/leaves/flush.py) meaning "I am about to wait for
    the network: flush what you have". `cursor()` and `classify(record)` are called
    only while the iterator is suspended: `cursor()` at any yield, `classify(record)`
    at the yield of that very record, so a pipeline may answer from what it knows of
    the record it just yielded.
    """

    # True once the iterator has ended having covered all of its input (else the
    # summary says complete: false and a checkpoint stays open).
    complete: bool
    # What the output covers when that is less than all of the header's `source`
    # (lib/pipelines/coverage.py); read once, before the first record, for the header.
    coverage: dict[str, Any] | None
    # Lines for the person running the stage, said after the last record.
    notes: list[str]

    def __iter__(self) -> Iterator[DataRecord | Flush]: ...

    def cursor(self) -> dict[str, Any]: ...

    def classify(self, record: DataRecord) -> tuple[str, int]:
        """The record's summary count (a status or a kind) and its bytes."""
        ...


@dataclass
class StageRun:
    """Everything the runner needs to know about one invocation of a stage."""

    stage: str
    verb: str
    source: str
    arguments: dict[str, Any]
    output: str = "-"
    output_format: str = "ndjson"  # or "s3-batch-csv" (lib/io/batchcsv.py)
    checkpoint: str | None = None
    restart: bool = False
    progress: bool = True
    quiet: bool = False
    upstream: dict[str, Any] | None = None
    total: int | None = None
    judge: Callable[[dict[str, int], bool], ExitCode] = lambda counts, complete: ExitCode.OK
    keep: Callable[[DataRecord], bool] | None = None  # counted either way, written if kept
    throughput: bool = False  # the final line shows bytes per second
    before_restart: Callable[[], None] | None = None  # with --restart, under the lock
    counts: dict[str, int] = field(default_factory=dict)


class _Session:
    def __init__(self, run: StageRun, state: CheckpointState, writer: RecordWriter) -> None:
        self.run = run
        self.state = state
        self.writer = writer
        self.checkpoint = (
            Checkpoint(run.checkpoint, run.stage, run.arguments) if run.checkpoint else None
        )
        self.t0 = time.monotonic()
        self.last_commit = self.t0
        self.committed_records = state.records_out
        self.pipeline: Pipeline | None = None

    def elapsed(self) -> float:
        return self.state.elapsed_s + (time.monotonic() - self.t0)

    def commit(self, now: float) -> None:
        self.last_commit = now
        self.committed_records = self.state.records_out
        if self.checkpoint is None:
            self.writer.flush()  # nothing to resume from: durability buys nothing here
            return
        offset = self.writer.sync()
        state = self.state
        if self.writer.is_file:
            state.output_offset = offset
        if self.pipeline is not None:
            state.cursor = self.pipeline.cursor()
        saved_elapsed = state.elapsed_s
        state.elapsed_s = self.elapsed()
        self.checkpoint.save(state)
        state.elapsed_s = saved_elapsed

    def summary(self, complete: bool) -> Summary:
        state = self.state
        return Summary(
            stage=self.run.stage,
            complete=complete,
            counts=dict(sorted(state.counts.items())),
            bytes=state.bytes,
            elapsed_s=round(self.elapsed(), 3),
            resumed=state.resumed,
        )


def run_stage(run: StageRun, build: Callable[[dict[str, Any] | None], Pipeline]) -> ExitCode:
    """Runs one stage to its end and returns its exit code; StageError propagates.

    The checkpoint's lock is held from before the checkpoint is read (or --restart
    clears anything) and the output is opened, until the run has ended.
    """
    lock = CheckpointLock(run.checkpoint) if run.checkpoint else None
    if lock is not None:
        lock.acquire()
    try:
        if run.restart and run.before_restart is not None:
            run.before_restart()
        return _run_locked(run, build)
    finally:
        if lock is not None:
            lock.release()


def _run_locked(run: StageRun, build: Callable[[dict[str, Any] | None], Pipeline]) -> ExitCode:
    interrupts.install()
    if run.output_format != "ndjson":
        run.arguments = {**run.arguments, "format": run.output_format}
    writer_type = writer_class(run.output_format)
    checkpoint = Checkpoint(run.checkpoint, run.stage, run.arguments) if run.checkpoint else None
    saved = checkpoint.load(restart=run.restart) if checkpoint else None
    progress = new_progress(
        run.stage, run.verb, enabled=run.progress, quiet=run.quiet, total=run.total
    )
    resumed = 0
    if saved is not None and is_stream(run.output):
        # A reader of a stream cannot truncate it back to a commit, and a fragment would
        # make a downstream s3-check call everything before it `extra`: the whole stream
        # again, which a downstream stage resuming from a pipe skips by replay.
        progress.message(
            f"output is a stream, not a file: writing it whole again from the start "
            f"(checkpoint {run.checkpoint} only resumes a file output)"
        )
        resumed, saved = saved.resumed + 1, None
    if saved is not None and saved.complete:
        progress.message(
            f"checkpoint {run.checkpoint} is complete (exit {saved.exit_code}); nothing to do "
            "(pass --restart to run again)"
        )
        return ExitCode(saved.exit_code or 0)
    if saved is None:
        state = CheckpointState(
            stage=run.stage,
            fingerprint=checkpoint.fingerprint if checkpoint else "",
            arguments=run.arguments,
            started=utc_now(),
            resumed=resumed,
        )
        writer = open_output(run.output, resume_offset=None, writer=writer_type)
    else:
        state = saved
        state.resumed += 1
        progress.resuming(state.records_out)
        resume_offset = state.output_offset if run.output != "-" else None
        writer = open_output(run.output, resume_offset=resume_offset, writer=writer_type)
    session = _Session(run, state, writer)
    # Built before the header is written, as the header says what the pipeline covers;
    # a failure here leaves the output without records and the checkpoint as it was.
    pipeline = build(state.cursor or None)
    if saved is None:
        writer.write(
            Header(
                stage=run.stage,
                source=redact(run.source),
                started=state.started,
                upstream=run.upstream,
                coverage=pipeline.coverage,
            )
        )
    try:
        session.commit(time.monotonic())
        session.pipeline = pipeline
        progress.follow(lambda: (state.records_out, state.counts, state.bytes))
        collector.resume()  # start-up is over (lib/engine/collector.py)
        _drive(session, pipeline, progress)
    except BrokenPipeError:
        progress.stop()
        _silence_stdout()
        return ExitCode.SIGPIPE
    except Interrupted as stop:
        progress.stop()
        _finish_incomplete(session)
        writer.release()
        message = f"interrupted by {stop.signal_name}"
        if run.checkpoint:
            message += f"; checkpoint saved to {run.checkpoint}; rerun the same command to resume"
        progress.message(message, level="warning")
        return stop.exit_code
    except BaseException:
        progress.stop()  # the error line that follows is the last word
        if saved is None and state.records_out == 0 and writer.is_file:
            _discard(session)  # failed before its first record: leave nothing behind
            raise
        # A fatal error (or a bug): keep what was written and say the output is incomplete.
        _finish_incomplete(session)
        writer.release()
        raise
    complete = pipeline.complete
    code = run.judge(state.counts, complete)
    if not complete and checkpoint is not None:
        # The input ended early (an upstream stage was killed): keep the checkpoint
        # open, so that rerunning the pipeline continues this run instead of ending it.
        _finish_incomplete(session)
        _closing_lines(run, session, pipeline, progress)
        return code
    try:
        writer.write(session.summary(complete))
        writer.close()
    except BrokenPipeError:
        _silence_stdout()
        return ExitCode.SIGPIPE
    elapsed = session.elapsed()
    if checkpoint is not None:
        state.output_offset = writer.offset if writer.is_file else 0
        state.complete = True
        state.exit_code = int(code)
        state.elapsed_s = elapsed
        checkpoint.save(state)
    _closing_lines(run, session, pipeline, progress)
    return code


def _closing_lines(
    run: StageRun, session: _Session, pipeline: Pipeline, progress: Progress
) -> None:
    for note in pipeline.notes:
        progress.message(note)
    state = session.state
    progress.finish(
        state.records_out,
        dict(sorted(state.counts.items())),
        state.bytes,
        session.elapsed(),
        throughput=run.throughput,
    )


def _drive(session: _Session, pipeline: Pipeline, progress: Progress) -> None:
    state = session.state
    counts = state.counts
    writer = session.writer
    classify = pipeline.classify
    keep = session.run.keep
    raise_if_interrupted = interrupts.raise_if_interrupted
    monotonic = time.monotonic
    flush = FLUSH
    for record in pipeline:
        if record is not flush:
            if keep is None or keep(record):
                writer.write(record)
            status, size = classify(record)
            counts[status] = counts.get(status, 0) + 1
            state.bytes += size
            state.records_out += 1
            # Only here, with the record written, do output and cursor agree.
            raise_if_interrupted()
            if state.records_out - session.committed_records < COMMIT_RECORDS:
                now = monotonic()
                if now - session.last_commit < COMMIT_SECONDS:
                    if progress.due(now):
                        progress.report(now, state.records_out, counts, state.bytes)
                    continue
            else:
                now = monotonic()
        else:
            raise_if_interrupted()
            writer.flush()
            now = monotonic()
            if now - session.last_commit < COMMIT_SECONDS:
                continue
        session.commit(now)
        if progress.due(now):
            progress.report(now, state.records_out, counts, state.bytes)


def _finish_incomplete(session: _Session) -> None:
    """Commits what was written, then tells readers of the output it is incomplete."""
    try:
        session.commit(time.monotonic())
        session.writer.write(session.summary(complete=False))
        session.writer.sync()  # not committed: a resumed run truncates it away again
    except (BrokenPipeError, OSError, StageError):
        # The output or the checkpoint cannot be written: the last commit stands.
        _silence_stdout()


def _discard(session: _Session) -> None:
    """Removes the output file and checkpoint of a fresh run that wrote no record."""
    with contextlib.suppress(OSError, StageError):
        session.writer.close()
    for path in (session.run.output.removeprefix("file://"), session.run.checkpoint):
        if path:
            with contextlib.suppress(OSError):
                os.unlink(path)


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so interpreter shutdown stays quiet."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
