"""The progress line after a resume: this run's rate and ETA, and one note that it resumed."""

from __future__ import annotations

import io

from lib.engine.progress import Progress


def progress(stream: io.StringIO, total: int | None = None) -> Progress:
    return Progress("s3-check", "checked", enabled=True, quiet=False, stream=stream, total=total)


def test_a_resumed_run_rates_only_its_own_records_and_says_once_that_it_resumed() -> None:
    stream = io.StringIO()
    reporter = progress(stream, total=30000)
    reporter.resuming(24000)
    # 1000 records in this run's first 10 s: 100/s, so the 5000 left take 50 s.
    reporter.report(reporter.started + 10, 25000, {"ok": 24990, "missing": 10}, 0)
    lines = stream.getvalue().splitlines()
    assert lines == [
        "s3-check: resuming after 24000 records",
        "s3-check: 25000 checked | 100/s | 24990 ok, 10 missing | 10.0s | ETA 50.0s",
    ]


def test_a_fresh_run_rates_all_its_records() -> None:
    stream = io.StringIO()
    reporter = progress(stream, total=300)
    reporter.report(reporter.started + 2, 100, {"ok": 90, "missing": 10}, 0)
    assert (
        stream.getvalue() == "s3-check: 100 checked | 50/s | 90 ok, 10 missing | 2.0s | ETA 4.0s\n"
    )


def test_quiet_runs_say_nothing_of_the_resume() -> None:
    stream = io.StringIO()
    Progress("s3-check", "checked", enabled=True, quiet=True, stream=stream).resuming(5)
    assert stream.getvalue() == ""


def test_a_breakdown_that_only_repeats_the_count_is_left_out() -> None:
    stream = io.StringIO()
    reporter = Progress("s3-manifest", "listed", enabled=True, quiet=False, stream=stream)
    reporter.report(reporter.started + 1, 1621, {"objects": 1621, "errors": 0}, 2048)
    assert stream.getvalue() == "s3-manifest: 1621 listed | 1621/s | 2.0 KB | 1.0s\n"
