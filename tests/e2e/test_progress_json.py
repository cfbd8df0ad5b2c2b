"""--progress-format json against the moto server: every stderr line is one JSON object —
timed progress events while a slow listing runs, the last one `"done": true`, and errors,
typer's usage errors included, as log lines."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., subprocess.CompletedProcess[bytes]]


def json_lines(stderr: bytes) -> list[dict[str, Any]]:
    lines = stderr.decode().splitlines()
    assert lines, "nothing on stderr"
    events = [json.loads(line) for line in lines]  # fails on any line that is not JSON
    assert all(isinstance(event, dict) for event in events)
    return events


@pytest.fixture
def slow_listing(
    populated_bucket: tuple[str, dict[str, bytes]], slow_endpoint: Callable[[float], Any]
) -> tuple[list[str], int, dict[str, str]]:
    """s3-manifest's arguments for 1500 objects in 15 pages behind a proxy that answers
    each after 0.15 s (2 s or more in all), their number, and the environment to use."""
    name, objects = populated_bucket
    args = [f"s3://{name}/obj/", "--page-size", "100"]
    return args, len(objects), {"AWS_ENDPOINT_URL": slow_endpoint(0.15).url}


def test_progress_events_while_listing_and_the_last_one_done(
    run_cli: Run, slow_listing: tuple[list[str], int, dict[str, str]], tmp_path: Path
) -> None:
    args, count, slow = slow_listing
    out = tmp_path / "listing.ndjson"
    common = ["--progress-format", "json", "--progress-interval", "0.2"]
    result = run_cli("s3-manifest", *args, "-o", out, *common, env=slow)
    assert result.returncode == 0, result.stderr
    events = json_lines(result.stderr)
    assert {event["type"] for event in events} == {"progress"}
    running, last = events[:-1], events[-1]
    assert len(running) >= 3, events
    assert all(event["done"] is False for event in running)
    records = [event["records"] for event in running]
    # Progress while the listing runs (the last timed event may come after the last page).
    assert records == sorted(records) and records[0] < count
    summary = json.loads(out.read_bytes().splitlines()[-1])
    assert last["done"] is True
    assert last["records"] == count
    assert last["counts"] == summary["counts"] == {"objects": count}
    assert last["stage"] == "s3-manifest" and last["total"] is None

    checked = run_cli("s3-check", "-i", out, "-o", tmp_path / "chk.ndjson", *common)
    assert checked.returncode == 0, checked.stderr
    final = json_lines(checked.stderr)[-1]
    assert (final["done"], final["counts"], final["total"]) == (
        True,
        {"ok": count},
        count,
    )


def test_errors_and_usage_errors_are_json_log_lines(run_cli: Run) -> None:
    missing = run_cli("s3-manifest", "s3://s3deep-no-such-bucket", "--progress-format", "json")
    assert missing.returncode == 3
    assert [(e["type"], e["level"], e["stage"]) for e in json_lines(missing.stderr)] == [
        ("log", "error", "s3-manifest")
    ]

    for args in (["--nope"], ["--page-size", "0"]):
        usage = run_cli("s3-manifest", "s3://b", *args, "--progress-format=json")
        assert usage.returncode == 2
        [event] = json_lines(usage.stderr)
        assert event["type"] == "log" and event["level"] == "error"
        assert args[0] in event["message"]
        assert event["hint"] == "see s3-manifest --help"

    # The text format is left as it was.
    text = run_cli("s3-manifest", "s3://b", "--nope")
    assert text.returncode == 2
    assert b"Error: No such option: --nope" in text.stderr
    assert not text.stderr.startswith(b"{")


def test_sigterm_ends_with_a_warning_line_after_the_events(
    start_cli: Callable[..., subprocess.Popen[bytes]],
    slow_listing: tuple[list[str], int, dict[str, str]],
    tmp_path: Path,
) -> None:
    args, _, slow = slow_listing
    process = start_cli(
        "s3-manifest",
        *args,
        "-o",
        tmp_path / "out.ndjson",
        "--checkpoint",
        tmp_path / "ck",
        "--progress-format",
        "json",
        "--progress-interval",
        "0.1",
        env=slow,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    first = json.loads(process.stderr.readline())  # the stage is running and reporting
    assert first["type"] == "progress" and first["done"] is False
    process.send_signal(signal.SIGTERM)
    rest = process.stderr.read()
    assert process.wait(timeout=30) == 143
    events = json_lines(rest)
    last = events[-1]
    assert (last["type"], last["level"]) == ("log", "warning")
    assert last["message"].startswith("interrupted by SIGTERM; checkpoint saved to ")
    assert all(event["type"] == "progress" for event in events[:-1])
