"""The resume promise, on a synthetic pipeline: crashes anywhere, identical output after."""

import itertools
import json
import os
import signal
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lib.engine import interrupts
from lib.engine.runner import StageRun, run_stage
from lib.io.checkpoint import Checkpoint
from lib.leaves.errors import ExitCode, UsageError
from lib.leaves.flush import Flush
from lib.leaves.records import DataRecord, ObjectRecord

KEYS = [f"key-{i:05d}" for i in range(3500)]


class Crash(BaseException):
    """Stands for kill -9: nothing after it runs."""


class KeysPipeline:
    coverage = None

    def __init__(self, cursor: dict[str, Any] | None, *, on_record: Any = None) -> None:
        self.complete = False
        self.notes: list[str] = []
        self._next = cursor["next"] if cursor else 0
        self._on_record = on_record

    def cursor(self) -> dict[str, Any]:
        return {"next": self._next}

    def classify(self, record: DataRecord) -> tuple[str, int]:
        assert isinstance(record, ObjectRecord)
        return "objects", record.size or 0

    def __iter__(self) -> Iterator[DataRecord | Flush]:
        for index in range(self._next, len(KEYS)):
            if self._on_record:
                self._on_record(index)
            self._next = index + 1
            yield ObjectRecord(bucket="b", key=KEYS[index], size=1)
        self.complete = True


def stage_run(tmp_path: Path, **changes: Any) -> StageRun:
    options: dict[str, Any] = {
        "stage": "s3-test",
        "verb": "listed",
        "source": "s3://b/",
        "arguments": {"location": "s3://b/"},
        "output": str(tmp_path / "out.ndjson"),
        "checkpoint": str(tmp_path / "ck"),
        "progress": False,
        "quiet": True,
    }
    options.update(changes)
    return StageRun(**options)


def comparable(path: Path) -> list[dict[str, Any]]:
    """The output without the fields a resumed run may change."""
    records = [json.loads(line) for line in path.read_bytes().splitlines()]
    records[0].pop("started")
    records[-1].pop("elapsed_s")
    records[-1].pop("resumed")
    return records


@pytest.fixture
def reference(tmp_path: Path) -> list[dict[str, Any]]:
    run = stage_run(tmp_path / "ref")
    (tmp_path / "ref").mkdir()
    assert run_stage(run, lambda cursor: KeysPipeline(cursor)) == ExitCode.OK
    records = comparable(Path(run.output))
    assert len(records) == len(KEYS) + 2
    assert records[-1]["complete"] is True and records[-1]["counts"] == {"objects": len(KEYS)}
    return records


def test_crash_between_output_sync_and_checkpoint_rename(
    tmp_path: Path, reference: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    run = stage_run(tmp_path)
    real_replace = os.replace
    calls = []

    def replace_then_crash(source: str, target: str) -> None:
        calls.append(target)
        if len(calls) == 3:  # the output is synced, the checkpoint is not yet renamed
            raise Crash
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace_then_crash)
    with pytest.raises(Crash):
        run_stage(run, lambda cursor: KeysPipeline(cursor))
    monkeypatch.setattr(os, "replace", real_replace)
    written = Path(run.output).read_bytes().count(b"\n")
    saved = json.loads(Path(run.checkpoint or "").read_bytes())
    assert written > saved["records_out"] + 1  # the output ran ahead of the checkpoint

    assert run_stage(run, lambda cursor: KeysPipeline(cursor)) == ExitCode.OK
    assert comparable(Path(run.output)) == reference
    assert json.loads(Path(run.output).read_bytes().splitlines()[-1])["resumed"] == 1


@pytest.mark.parametrize("crash_at", [0, 1, 999, 1000, 1001, 2500, 3499])
def test_crash_at_any_record_then_resume(
    tmp_path: Path, reference: list[dict[str, Any]], crash_at: int
) -> None:
    run = stage_run(tmp_path)

    def crash(index: int) -> None:
        if index == crash_at:
            raise Crash

    with pytest.raises(Crash):
        run_stage(run, lambda cursor: KeysPipeline(cursor, on_record=crash))
    resumed_from = []

    def resume(cursor: dict[str, Any] | None) -> KeysPipeline:
        resumed_from.append(cursor)
        return KeysPipeline(cursor)

    assert run_stage(run, resume) == ExitCode.OK
    assert comparable(Path(run.output)) == reference
    assert (resumed_from[0] or {"next": 0})["next"] <= crash_at


def test_sigterm_commits_and_resumes(tmp_path: Path, reference: list[dict[str, Any]]) -> None:
    run = stage_run(tmp_path)

    def terminate(index: int) -> None:
        if index == 1500:
            interrupts._handler(signal.SIGTERM, None)

    assert run_stage(run, lambda cursor: KeysPipeline(cursor, on_record=terminate)) == 143
    last = json.loads(Path(run.output).read_bytes().splitlines()[-1])
    assert last["type"] == "summary" and last["complete"] is False
    saved = json.loads(Path(run.checkpoint or "").read_bytes())
    assert saved["cursor"] == {"next": 1501} and saved["records_out"] == 1501
    assert Path(run.output).read_bytes().count(b"\n") == 1 + 1501 + 1
    assert run_stage(run, lambda cursor: KeysPipeline(cursor)) == ExitCode.OK
    assert comparable(Path(run.output)) == reference


def test_completed_checkpoint_makes_a_rerun_a_no_op(
    tmp_path: Path, reference: list[dict[str, Any]]
) -> None:
    run = stage_run(tmp_path, judge=lambda counts, complete: ExitCode.NOT_OK)
    assert run_stage(run, lambda cursor: KeysPipeline(cursor)) == ExitCode.NOT_OK
    before = Path(run.output).read_bytes()

    def must_not_build(cursor: dict[str, Any] | None) -> KeysPipeline:
        raise AssertionError("a completed checkpoint must not run the pipeline")

    assert run_stage(run, must_not_build) == ExitCode.NOT_OK
    assert Path(run.output).read_bytes() == before


def test_checkpoint_for_other_arguments_is_refused_unless_restart(tmp_path: Path) -> None:
    run = stage_run(tmp_path)
    assert run_stage(run, lambda cursor: KeysPipeline(cursor)) == ExitCode.OK
    other = stage_run(tmp_path, arguments={"location": "s3://other/"})
    with pytest.raises(UsageError, match=r"other arguments.*location"):
        run_stage(other, lambda cursor: KeysPipeline(cursor))
    restarted = stage_run(tmp_path, arguments={"location": "s3://other/"}, restart=True)
    assert run_stage(restarted, lambda cursor: KeysPipeline(cursor)) == ExitCode.OK


def test_corrupt_checkpoint_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "ck").write_bytes(b"{half")
    with pytest.raises(UsageError, match="not a valid checkpoint"):
        run_stage(stage_run(tmp_path), lambda cursor: KeysPipeline(cursor))


def test_checkpoint_file_is_private_and_written_atomically(tmp_path: Path) -> None:
    run = stage_run(tmp_path)
    assert run_stage(run, lambda cursor: KeysPipeline(cursor)) == ExitCode.OK
    path = Path(run.checkpoint or "")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not Path(f"{path}.tmp").exists()
    saved = Checkpoint(str(path), "s3-test", {"location": "s3://b/"}).load(restart=False)
    assert saved is not None and saved.complete and saved.records_out == len(KEYS)


def test_commits_at_least_every_thousand_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved_counts: list[int] = []
    real_save = Checkpoint.save

    def spy(self: Checkpoint, state: Any) -> None:
        saved_counts.append(state.records_out)
        real_save(self, state)

    monkeypatch.setattr(Checkpoint, "save", spy)
    run_stage(stage_run(tmp_path), lambda cursor: KeysPipeline(cursor))
    gaps = [b - a for a, b in itertools.pairwise(saved_counts)]
    assert saved_counts[0] == 0  # the header alone
    assert max(gaps) <= 1000
    assert saved_counts[-1] == len(KEYS)


def test_interrupt_flag_is_cleared_on_install() -> None:
    interrupts._handler(signal.SIGINT, None)
    interrupts.install()
    interrupts.raise_if_interrupted()
