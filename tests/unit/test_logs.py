"""stderr as JSON lines (--progress-format json): log lines, timed progress events, the
last event, and the text format left as it was."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lib.engine import logs
from lib.engine.logs import JsonProgress, json_requested, new_progress
from lib.engine.progress import Progress

PROGRESS_FIELDS = {
    "type",
    "stage",
    "records",
    "bytes",
    "counts",
    "elapsed_s",
    "rate",
    "total",
    "done",
}


@pytest.fixture
def json_format() -> Iterator[None]:
    logs.use_format("json")
    try:
        yield
    finally:
        logs.use_format("text")
        logs.use_interval(None)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_is_found_on_the_command_line_before_typer_parses_it() -> None:
    assert json_requested(["s3://b", "--progress-format", "json"])
    assert json_requested(["--progress-format=json", "--nope"])
    assert not json_requested(["--progress-format", "text"])
    assert not json_requested(["--progress-format"])
    assert not json_requested(["-i", "json"])


def test_log_lines_are_text_by_default_and_json_when_asked(json_format: None) -> None:
    logs.use_format("text")
    text = io.StringIO()
    logs.log("s3-check", "error", "no such bucket", "check the name", stream=text)
    logs.log("s3-check", "info", "resuming", stream=text)
    assert text.getvalue() == (
        "s3-check: error: no such bucket\ns3-check: hint: check the name\ns3-check: resuming\n"
    )
    logs.use_format("json")
    out = io.StringIO()
    logs.log("s3-check", "error", "no such bucket", "check the name", stream=out)
    assert lines(out) == [
        {
            "type": "log",
            "level": "error",
            "stage": "s3-check",
            "message": "no such bucket",
            "hint": "check the name",
        }
    ]


def test_json_progress_reports_on_a_timer_and_ends_with_done(json_format: None) -> None:
    logs.use_interval(0.02)
    progress = new_progress("s3-check", "checked", enabled=True, quiet=False, total=10)
    assert isinstance(progress, JsonProgress)
    progress.stream = out = io.StringIO()
    counts = {"ok": 3}
    progress.follow(lambda: (3, counts, 30))
    time.sleep(0.2)  # the stage's loop is stuck (a slow server): events keep coming
    progress.finish(4, {"ok": 4}, 40, 2.0)
    events = lines(out)
    assert all(set(event) == PROGRESS_FIELDS for event in events)
    running, last = events[:-1], events[-1]
    assert len(running) >= 3
    assert all(e["done"] is False and e["records"] == 3 and e["total"] == 10 for e in running)
    assert running[0]["counts"] == {"ok": 3} and running[0]["bytes"] == 30
    assert last == {
        "type": "progress",
        "stage": "s3-check",
        "records": 4,
        "bytes": 40,
        "counts": {"ok": 4},
        "elapsed_s": 2.0,
        "rate": 2.0,
        "total": 10,
        "done": True,
    }
    assert not any(t.name == "progress" for t in threading.enumerate())


def test_json_progress_rate_leaves_out_the_records_of_earlier_runs(json_format: None) -> None:
    logs.use_interval(0.02)
    progress = new_progress("s3-check", "checked", enabled=True, quiet=False)
    progress.stream = out = io.StringIO()
    progress.follow(lambda: (1_000_000, {}, 0))  # resumed after a million records
    time.sleep(0.1)
    progress.stop()
    assert all(event["rate"] == 0 for event in lines(out))


def test_quiet_and_no_progress(json_format: None) -> None:
    logs.use_interval(0.02)
    quiet = new_progress("s3-check", "checked", enabled=True, quiet=True)
    silent = new_progress("s3-check", "checked", enabled=False, quiet=False)
    quiet.stream, silent.stream = io.StringIO(), io.StringIO()
    for progress in (quiet, silent):
        progress.follow(lambda: (1, {}, 0))
    time.sleep(0.08)
    quiet.finish(1, {}, 0, 1.0)
    silent.finish(1, {}, 0, 1.0)
    assert quiet.stream.getvalue() == ""
    assert [event["done"] for event in lines(silent.stream)] == [True]  # type: ignore[arg-type]


def test_text_progress_is_the_plain_reporter_with_the_interval_asked() -> None:
    logs.use_interval(3.0)
    try:
        progress = new_progress("s3-check", "checked", enabled=True, quiet=False)
    finally:
        logs.use_interval(None)
    assert type(progress) is Progress
    assert progress.interval == 3.0


def test_the_option_switches_the_format_per_invocation(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from stages.manifest import app

    (tmp_path / "f").write_bytes(b"12")
    as_json = CliRunner().invoke(
        app, [str(tmp_path), "-o", "/dev/null", "--progress-format", "json"]
    )
    assert as_json.exit_code == 0
    [event] = [json.loads(line) for line in as_json.stderr.splitlines()]
    assert (event["type"], event["done"], event["records"], event["bytes"]) == (
        "progress",
        True,
        1,
        2,
    )
    as_text = CliRunner().invoke(app, [str(tmp_path), "-o", "/dev/null"])
    assert as_text.stderr.startswith("s3-manifest: 1 listed in ")
