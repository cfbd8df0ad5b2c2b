"""Runs that overlap on one machine: an hourly cron line whose run outlasts the hour.

A second run on a checkpoint (or an output file) that a live run holds exits 3 at
once, names the holder and changes no byte; a lock left by a SIGKILLed run does not
block the rerun.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from .helpers import STAGES, Job, Jobs, Run, Start, one_error_line, wait_for_commit

SLOW = {"s3-manifest": 0.05, "s3-check": 0.04, "s3-repair": 0.03, "s3-delete": 0.15}
# The first run stays stopped, so a second run that waited for its lock would never end;
# the bound only allows for start-up (Python, boto3, HeadBucket) on a loaded machine.
AT_ONCE_S = 20.0


@dataclass
class Running:
    """A job's first run, alive and past its first commit."""

    job: Job
    process: subprocess.Popen[bytes]
    env: dict[str, str]


@pytest.fixture
def start_first(jobs: Jobs, start_cli: Start, slow_endpoint: Any) -> Callable[[str], Running]:
    def start(stage: str) -> Running:
        job = jobs.build(stage, size=60)
        env = {"AWS_ENDPOINT_URL": slow_endpoint(SLOW[stage]).url}
        process = start_cli(stage, *job.command(), env=env, stderr=subprocess.DEVNULL)
        wait_for_commit(process, job.checkpoint)
        assert process.poll() is None, "the first run ended before the second started"
        return Running(job, process, env)

    return start


@pytest.mark.parametrize("stage", STAGES)
def test_a_second_run_on_a_held_checkpoint_exits_3_at_once_and_writes_nothing(
    stage: str, start_first: Callable[[str], Running], run_cli: Run, figures: Counter[str]
) -> None:
    first = start_first(stage)
    job, env = first.job, first.env
    first.process.send_signal(signal.SIGSTOP)  # so that every byte the second run changes shows
    try:
        output, state = job.out.read_bytes(), job.checkpoint.read_bytes()
        seconds = []
        for more in ([], ["--restart"]):  # --restart too must clear nothing
            started = time.monotonic()
            result = run_cli(stage, *job.command(), *more, env=env)
            seconds.append((result, time.monotonic() - started))
        assert job.out.read_bytes() == output
        assert job.checkpoint.read_bytes() == state
    finally:
        first.process.send_signal(signal.SIGCONT)
    for second, took in seconds:
        assert second.returncode == 3, second.stderr
        assert second.stdout == b""
        one_error_line(second.stderr, "in use by another run", f"pid {first.process.pid} on ")
        assert took < AT_ONCE_S, took
        slowest = "shared: slowest refusal of a second run (ms)"
        figures[slowest] = max(figures[slowest], int(took * 1000))
    assert first.process.wait(timeout=120) in (0, 1)
    job.verify()
    figures[f"shared: {stage} second run on a held checkpoint refused (exit 3)"] += 1


@pytest.mark.parametrize("stage", STAGES)
def test_a_lock_left_by_a_killed_run_does_not_block_the_rerun(
    stage: str, start_first: Callable[[str], Running], run_cli: Run, figures: Counter[str]
) -> None:
    first = start_first(stage)
    first.process.send_signal(signal.SIGKILL)
    first.process.wait()
    job = first.job
    lock = job.checkpoint.with_name(job.checkpoint.name + ".lock")
    assert f"pid {first.process.pid} on ".encode() in lock.read_bytes()
    rerun = run_cli(stage, *job.command(), env=first.env, timeout=120)
    assert rerun.returncode in (0, 1), rerun.stderr
    job.verify()
    figures[f"shared: {stage} rerun after kill -9 took the stale lock"] += 1


def test_two_runs_writing_one_output_with_other_checkpoints(
    start_first: Callable[[str], Running], run_cli: Run, figures: Counter[str]
) -> None:
    """The output file is locked too: another checkpoint (or none) does not let a second
    run truncate what the first is writing."""
    first = start_first("s3-manifest")
    job = first.job
    first.process.send_signal(signal.SIGSTOP)
    try:
        output = job.out.read_bytes()
        others = (["--checkpoint", str(job.directory / "other.ck")], [])
        seconds = [
            run_cli("s3-manifest", *job.args, "-o", job.out, *more, env=first.env)
            for more in others
        ]
        assert job.out.read_bytes() == output
    finally:
        first.process.send_signal(signal.SIGCONT)
    for second in seconds:
        assert second.returncode == 3, second.stderr
        one_error_line(second.stderr, f"output {job.out} is being written by another run")
    assert first.process.wait(timeout=120) == 0
    job.verify()
    figures["shared: second run on the same -o, other checkpoint, refused (exit 3)"] += 1


def test_a_checkpoint_path_that_is_not_a_file_is_refused_and_left_alone(
    run_cli: Run, tmp_path: Any
) -> None:
    """`--checkpoint /dev/null --restart` used to unlink /dev/null and rename a regular
    file over it, breaking every program on the machine that writes to it. A FIFO stands
    in for the device here (anyone may make one); the stage refuses before touching it."""
    import os
    import stat

    source = tmp_path / "source"
    source.mkdir()
    (source / "a").write_bytes(b"a")
    fifo = tmp_path / "null"
    os.mkfifo(fifo)
    output = tmp_path / "out.ndjson"
    for extra in (["--restart"], []):
        args = [str(source), "-o", str(output), "--checkpoint", str(fifo), *extra]
        result = run_cli("s3-manifest", *args, timeout=60)
        assert result.returncode == 2, result.stderr
        one_error_line(result.stderr, f"--checkpoint {fifo}: not a regular file")
        assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["null", "source"]
