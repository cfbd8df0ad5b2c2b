"""The runner asks a pipeline, and only the pipeline, how records count, what the
output covers and what to say at the end (lib/engine/runner.py's `Pipeline`)."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lib.engine.runner import StageRun, run_stage
from lib.leaves.errors import ExitCode
from lib.leaves.flush import FLUSH, Flush
from lib.leaves.records import DataRecord, DeleteRecord


class SizedDeletes:
    """Delete records whose bytes only the pipeline knows (a delete record has no size),
    told at each record's yield, as s3-delete does."""

    def __init__(self, sizes: dict[str, int]) -> None:
        self.sizes = sizes
        self.complete = False
        self.coverage: dict[str, Any] | None = {"prefix": "keep/"}
        self.notes: list[str] = []
        self._yielded = 0

    def cursor(self) -> dict[str, Any]:
        return {}

    def __iter__(self) -> Iterator[DataRecord | Flush]:
        for key, size in self.sizes.items():
            self._yielded = size
            yield DeleteRecord(bucket="b", key=key, status="deleted" if size else "skipped")
            yield FLUSH
        self.notes.append("2 keys seen, 1 deleted")
        self.complete = True

    def classify(self, record: DataRecord) -> tuple[str, int]:
        assert isinstance(record, DeleteRecord)
        return record.status, self._yielded


@pytest.fixture(autouse=True)
def _handlers_restored() -> Iterator[None]:
    """run_stage installs its SIGINT/SIGTERM handlers: Ctrl-C must stop the suite after."""
    saved = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    yield
    for number, handler in saved.items():
        signal.signal(number, handler)


def test_counts_coverage_and_notes_come_from_the_pipeline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out.ndjson"
    run = StageRun(
        stage="s3-test",
        verb="processed",
        source="s3://b/",
        arguments={},
        output=str(output),
        progress=False,
    )

    code = run_stage(run, lambda cursor: SizedDeletes({"a": 7, "b": 0}))

    assert code == ExitCode.OK
    records = [json.loads(line) for line in output.read_bytes().splitlines()]
    assert records[0]["coverage"] == {"prefix": "keep/"}
    assert records[-1]["counts"] == {"deleted": 1, "skipped": 1}
    assert records[-1]["bytes"] == 7
    assert "2 keys seen, 1 deleted" in capsys.readouterr().err
