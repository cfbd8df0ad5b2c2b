"""bench's objects scenario without a server or peers: its options, its parts when a peer
is missing, its checks of a peer's output, and its report built from made-up samples."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bench import run as bench_run
from bench.harness.common import WrongResult
from bench.harness.measure import Sample, Series
from bench.harness.settings import Report, Settings
from bench.scenarios import objects
from bench.scenarios.objects_report import Measured

SMALL = 2000


def series(name: str, cpu_s: float, wall_s: float = 1.0, rss: float = 50.0) -> Series:
    """Three runs whose medians are `cpu_s`, `wall_s` and `rss`."""
    runs = [Sample(wall_s * f, cpu_s * f * 0.75, cpu_s * f * 0.25, rss) for f in (0.9, 1, 1.2)]
    return Series(name, 0, runs)


def fake_measurements(sizes: objects.Sizes, missing: dict[str, str] | None = None) -> Measured:
    """s3deep's rows: 2.5 s CPU over a 0.5 s start-up (1,000 µs per small object); the
    peers': 0.4 s over 0.1 s (150 µs); the large parts as stated per test."""
    made = {}
    for part in objects.parts(sizes, missing or {}):
        for row in part.ours:
            made[row.name] = series(row.name, 2.5, wall_s=4.0, rss=400 if part.megabytes else 60)
            made[row.startup] = series(row.startup, 0.5)
        for row in part.peers:
            made[row.name] = series(row.name, 0.4, wall_s=2.0)
            made[row.startup] = series(row.startup, 0.1)
    return Measured(made, {"head: s3-check --mode head": "summary counts {ok: 2000}"})


def test_the_objects_scenario_is_registered_with_its_sizes_settable() -> None:
    settings, jobs = bench_run.parse_args(
        ["--scenario", "objects", "--objects", "200", "--large", "2", "--large-mb", "8",
         "--cross", "0"]
    )  # fmt: skip
    assert [(job.scenario, job.objects) for job in jobs] == [("objects", 200)]
    sizes = objects.Sizes.of(settings)
    assert sizes == objects.Sizes(200, 2, 8, 0, 100)
    assert sizes.name == "objects-200-2x8MiB-0x100MB"
    assert [part.key for part in objects.parts(sizes, {})] == [
        "head", "read-small", "read-large", "repair-small"]  # fmt: skip


def test_the_defaults_are_issue_17s_sizes_and_the_suites_run_them() -> None:
    settings, jobs = bench_run.parse_args(["--scenario", "objects"])
    settings = dataclasses.replace(settings, objects=jobs[0].objects)  # as bench.run.main does
    assert objects.Sizes.of(settings) == objects.Sizes(SMALL, 8, 64, 10, 100)
    for suite in ("default", "full"):
        _, jobs = bench_run.parse_args(["--suite", suite])
        assert ("objects", SMALL) in [(job.scenario, job.objects) for job in jobs]


@pytest.mark.parametrize(
    "argv", [["--cross", "-1"], ["--large", "0"], ["--large-mb", "0"], ["--cross-mb", "0"]]
)
def test_sizes_that_make_no_sense_are_usage_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench_run.parse_args(["--scenario", "objects", *argv])
    assert exit_info.value.code == 2
    assert argv[0] in capsys.readouterr().err


def test_missing_peers_are_named_and_not_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_s5cmd() -> str:
        raise SystemExit("bench: s5cmd not found")

    monkeypatch.setattr(objects, "find_tool", lambda name: None)
    monkeypatch.setattr(objects, "s5cmd_binary", no_s5cmd)
    missing = objects.missing_peers()
    assert missing == {"rclone": "which rclone", "s5cmd": "which s5cmd"}
    chosen = {part.key: part for part in objects.parts(objects.Sizes(200, 2, 8, 2, 20), missing)}
    assert all(not part.peers for part in chosen.values())
    assert chosen["repair-small"].missing == (
        "repair small: s5cmd cp (server-side) (which s5cmd: nothing)",)  # fmt: skip
    measured = fake_measurements(objects.Sizes(200, 2, 8, 2, 20), missing)
    text = objects_report_markdown(objects.Sizes(200, 2, 8, 2, 20), measured, missing)
    assert "s5cmd cp (server-side) (which s5cmd: nothing): not installed on this machine" in text
    assert "| repair small: s5cmd cp (server-side) |" not in text
    assert "not measured" in text


def objects_report_markdown(
    sizes: objects.Sizes, measured: Measured, missing: dict[str, str]
) -> str:
    settings = Settings(objects=sizes.objects, runs=3, etag_hash="MD5", keep_work=False)
    report = objects.build_report(settings, sizes, objects.parts(sizes, missing), measured,
                                  {}, [], "## Machine\n\n- made up\n")  # fmt: skip
    return report.markdown


def test_the_report_gives_cpu_per_object_without_start_up_and_the_targets() -> None:
    sizes = objects.Sizes(SMALL, 8, 64, 10, 100)
    text = objects_report_markdown(sizes, fake_measurements(sizes), {})
    # (2.5 - 0.5) s / 2000 = 1,000 µs; (0.4 - 0.1) s / 2000 = 150 µs; 1000 / 150 = 6.67
    # After start-up (1 s of wall each): 2000 / 3 s = 666.7 objects/s; 2000 / 1 s = 2000.0
    assert ("| head: s3-check --mode head | 4.00 | 2.50 | 0.50 | 1,000 | 500.0 | 666.7 | 60 "
            "| 0.00 | - | - | - |") in text  # fmt: skip
    assert ("| head: rclone lsjson --files-from (one HEAD per key) | 2.00 | 0.40 | 0.10 | 150 "
            "| 1,000.0 | 2,000.0 | 50 | 0.00 | 2.00 | 6.67 | 1.20 |") in text  # fmt: skip
    # 8 x 64 MiB = 536.9 MB read in 4 s: 134.2 MB/s (in 3 s after start-up: 179.0); 2 s of
    # CPU over it: 3.73 ms per MB
    assert ("| read large: s3-check --mode read | 4.00 | 2.50 | 0.50 | 3.73 | 134.2 | 179.0 "
            "| 400 |") in text  # fmt: skip
    assert "- head: objects/s ≥ rclone's (start-up wall time subtracted): 0.33x" in text
    assert "- head: client CPU per object ≤ 0.8x rclone's HEAD path: 6.67x — **not met**" in text
    assert "- read large: peak RSS ≤ 300 MB: 400 MB — **not met**" in text
    assert "- repair across endpoints: peak RSS ≤ 300 MB: 400 MB — **not met**" in text
    assert "0 of 10 measured targets met" in text
    assert "- head: s3-check --mode head: summary counts {ok: 2000}" in text
    assert "ran with its defaults" in text


def test_a_target_is_met_when_s3deep_is_cheaper() -> None:
    sizes = objects.Sizes(SMALL, 8, 64, 10, 100)
    measured = fake_measurements(sizes)
    head = objects.HEAD
    measured.series[head.name] = series(head.name, 0.7, wall_s=1.5)  # (0.7-0.5)/2000 = 100 µs
    text = objects_report_markdown(sizes, measured, {})
    assert "- head: client CPU per object ≤ 0.8x rclone's HEAD path: 0.67x — **met**" in text
    # 2000 / 1.5 s against 2000 / 2 s; after 1 s of start-up: 2000 / 0.5 s against 2000 / 1 s
    assert "- head: objects/s ≥ rclone's (whole run, start-up included): 1.33x — **met**" in text
    assert "- head: objects/s ≥ rclone's (start-up wall time subtracted): 2.00x — **met**" in text


def test_a_failed_default_across_endpoints_is_reported() -> None:
    note = objects.across_note(objects.Sizes(SMALL, 8, 64, 10, 100), "exit 1: s3-repair ...")
    assert "failed in an untimed trial (`exit 1: s3-repair ...`" in note
    assert "--part-concurrency 1" in note


def test_run_writes_the_objects_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fake_run(settings: Settings) -> Report:
        sizes = objects.Sizes.of(settings)
        chosen = objects.parts(sizes, {})
        return objects.build_report(settings, sizes, chosen, fake_measurements(sizes), {}, [],
                                    "## Machine\n\n- made up\n")  # fmt: skip

    monkeypatch.setitem(bench_run.SCENARIOS, "objects", fake_run)
    bench_run.main(["--scenario", "objects", "--objects", "200", "--large", "2", "--cross", "2",
                    "--results-dir", str(tmp_path)])  # fmt: skip
    written = tmp_path / "objects-200-2x64MiB-2x100MB.md"
    text = written.read_text()
    assert text.startswith("# Per-object requests: 200 small objects, 2 x 64 MiB, 2 x 100 MB")
    assert text.rstrip().endswith("s.") and "The whole scenario took" in text
    assert f"bench: wrote {written}" in capsys.readouterr().out


def test_peer_outputs_are_checked(tmp_path: Path) -> None:
    entries = [("a b.txt", 1024, "x"), ("日本語/c", 4096, "y")]
    out = tmp_path / "lsjson.stdout"
    out.write_text('[\n{"Path":"a b.txt","Size":1024},\n{"Path":"日本語/c","Size":4096}\n]\n')
    assert objects.verify_lsjson(out, entries) == "2 objects, each with its seeded size"
    out.write_text('[{"Path":"a b.txt","Size":1024}]')
    with pytest.raises(WrongResult):
        objects.verify_lsjson(out, entries)
    out.write_text("[\n]\n")
    assert objects.verify_nothing(out) == "ran over nothing and printed nothing"
    out.write_text("d41d8cd98f00b204e9800998ecf8427e  x\n")
    with pytest.raises(WrongResult):
        objects.verify_nothing(out)
