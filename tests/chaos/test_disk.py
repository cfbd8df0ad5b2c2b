"""Disk trouble: the output or the checkpoint cannot be written. Exit 3, a consistent
checkpoint, and a rerun that completes once the disk is usable again."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from helpers import FAKE_SECRET

from .helpers import Jobs, Run, Start, committed_records, one_error_line, parse


def limited(max_bytes: int) -> Any:
    """A preexec_fn: no file of the child may grow past max_bytes (as `ulimit -f`)."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return apply


def assert_consistent(checkpoint: Path, output: Path) -> int:
    """The committed part of the output holds exactly the committed records."""
    state = json.loads(checkpoint.read_bytes())
    data = output.read_bytes()
    assert state["output_offset"] <= len(data)
    committed = parse(data[: state["output_offset"]])
    assert committed[0]["type"] == "header"
    assert len(committed) == 1 + state["records_out"] and state["records_out"] > 0
    return int(state["records_out"])


@pytest.mark.parametrize("stage", ["s3-manifest", "s3-delete"])
def test_file_size_limit_exits_3_and_the_rerun_completes(
    stage: str,
    jobs: Jobs,
    run_cli: Run,
    cli_env: dict[str, str],
    slow_endpoint: Any,
    figures: Counter[str],
) -> None:
    """The output hits `ulimit -f` after some commits (slow requests: a commit a second)."""
    job = jobs.build(stage, size=400 if stage == "s3-manifest" else 300)
    # At most ~25 kB (manifest) or ~7 kB (delete) per second: a commit lands before the limit.
    delay, limit = {"s3-manifest": (0.05, 45_000), "s3-delete": (0.15, 12_000)}[stage]
    proxy = slow_endpoint(delay)
    env = {**cli_env, "AWS_ENDPOINT_URL": proxy.url}
    result = subprocess.run(
        [str(Path(sys.executable).parent / stage), *job.command()],
        env=env,
        capture_output=True,
        preexec_fn=limited(limit),
        timeout=120,
        check=False,
    )
    assert result.returncode == 3, result.stderr
    assert FAKE_SECRET.encode() not in result.stdout + result.stderr
    one_error_line(result.stderr, "cannot write output", str(job.out), "File too large")
    assert_consistent(job.checkpoint, job.out)
    final = run_cli(stage, *job.command(), env={"AWS_ENDPOINT_URL": proxy.url}, timeout=120)
    assert final.returncode == 0, final.stderr
    assert job.verify()[-1]["resumed"] == 1
    figures["disk: file size limit hit, then resumed"] += 1


def test_a_full_output_device_exits_3_with_one_line(
    jobs: Jobs, run_cli: Run, figures: Counter[str]
) -> None:
    job = jobs.build("s3-manifest", size=50)
    result = run_cli("s3-manifest", *job.args, "-o", "/dev/full")
    assert result.returncode == 3, result.stderr
    one_error_line(result.stderr, "cannot write output /dev/full", "No space left on device")
    figures["disk: full device, one line and exit 3"] += 1


def test_a_checkpoint_that_cannot_be_saved_exits_3_and_the_rerun_completes(
    jobs: Jobs, run_cli: Run, start_cli: Start, slow_endpoint: Any, figures: Counter[str]
) -> None:
    """Mid-run the checkpoint's directory stops taking new files (here: its temp file's
    name is taken by a directory, which stops root too, unlike chmod): exit 3, the
    previous checkpoint intact, and the rerun completes once the path is free."""
    job = jobs.build("s3-manifest", size=300)
    proxy = slow_endpoint(0.05)
    env = {"AWS_ENDPOINT_URL": proxy.url}
    process = start_cli(
        "s3-manifest", *job.command(), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while committed_records(job.checkpoint) < 5 and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    blocker = job.checkpoint.with_name(f"{job.checkpoint.name}.{process.pid}.tmp")
    while process.poll() is None:
        try:
            blocker.mkdir()
            break
        except FileExistsError:  # a commit is writing it right now
            time.sleep(0.001)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 3, stderr
    one_error_line(stderr, "cannot save checkpoint", str(job.checkpoint))
    assert_consistent(job.checkpoint, job.out)
    blocker.rmdir()
    final = run_cli("s3-manifest", *job.command(), env=env, timeout=120)
    assert final.returncode == 0, final.stderr
    job.verify()
    figures["disk: checkpoint unwritable, then resumed"] += 1
