"""A faulty S3 (throttling, 5xx, resets, stalls), exhausted retries and refused access."""

from __future__ import annotations

import subprocess
from collections import Counter
from typing import Any

import pytest
from s3proxy import FaultRates

from .helpers import (
    STAGES,
    STALL_S,
    Jobs,
    Run,
    Start,
    committed_records,
    one_error_line,
    wait_for_commit,
)

# s3-repair sends about one request per object (listing pages answer its checks), so it
# needs as many objects as the others for the faults to hit each kind of request.
SIZES = {"s3-manifest": 400, "s3-check": 300, "s3-repair": 240, "s3-delete": 300}


# s3-check's head and read modes send their HEADs and GETs through the request engine.
ENGINE_MODES = ("s3-check --mode head", "s3-check --mode read")


@pytest.mark.parametrize("stage", [*STAGES, *ENGINE_MODES])
def test_random_faults_give_the_fault_free_result(
    stage: str,
    jobs: Jobs,
    run_cli: Run,
    slow_endpoint: Any,
    chaos_env: dict[str, str],
    figures: Counter[str],
) -> None:
    """10% 503 SlowDown, 1% 500, 2% connections reset, 1% responses stalled past the read
    timeout, on every request: the run completes and its records equal a fault-free run's
    (a reset or a stall comes after the server acted, so retries meet their own effect)."""
    # s3-check in list mode, and in the two modes of the request engine.
    command, _, mode = stage.partition(" --mode ")
    job = (
        jobs.check(SIZES[command], mode=mode or "list")
        if command == "s3-check"
        else jobs.build(stage, SIZES[stage])
    )
    proxy = slow_endpoint(0)
    proxy.faults.set_rates(FaultRates(stall_s=STALL_S, seed=sum(map(ord, stage))))
    result = run_cli(
        command, *job.command(), env={**chaos_env, "AWS_ENDPOINT_URL": proxy.url}, timeout=240
    )
    assert result.returncode == job.exit_code, result.stderr
    injected = proxy.faults.injected
    assert injected["SlowDown"] >= 3 and injected["reset"] >= 1, injected
    if stage in ENGINE_MODES:  # the requests the faults hit were the engine's
        agents = proxy.agents("GET" if mode == "read" else "HEAD")
        assert sum(agent.startswith("s3deep/") for agent in agents) >= 250, agents[:3]
    job.same_output = True  # no kill here: even s3-repair must write the reference records
    job.verify()
    figures["requests through the faulty proxy"] += len(proxy.requests())
    for kind, count in injected.items():
        figures[f"faults injected and survived: {kind}"] += count


def test_throttling_lowers_delete_concurrency_and_it_recovers(
    jobs: Jobs, run_cli: Run, slow_endpoint: Any, figures: Counter[str]
) -> None:
    """A burst of SlowDown answers halves s3-delete's window down to one request in
    flight; successes widen it again to --concurrency."""
    job = jobs.build("s3-delete", size=400)
    job.args[job.args.index("--concurrency") + 1] = "8"
    proxy = slow_endpoint(0.15)
    proxy.faults.throttle_deletes = 40  # 8 requests x 3 botocore attempts, and more
    result = run_cli("s3-delete", *job.command(), env={"AWS_ENDPOINT_URL": proxy.url})
    assert result.returncode == 0, result.stderr
    job.verify()
    in_flight = [count for _, count in proxy.delete_arrivals]
    assert max(in_flight[:8]) >= 6, in_flight  # the full window at first
    lowest = in_flight.index(1, 8)  # then throttled down to one request at a time
    assert max(in_flight[lowest:]) >= 6, in_flight  # and back up
    figures["throttle bursts survived (s3-delete window 8 -> 1 -> 8)"] += 1


@pytest.mark.parametrize("stage", STAGES)
def test_exhausted_retries_exit_3_and_the_rerun_completes(
    stage: str,
    jobs: Jobs,
    run_cli: Run,
    start_cli: Start,
    slow_endpoint: Any,
    chaos_env: dict[str, str],
    figures: Counter[str],
) -> None:
    """Mid-run, every request starts failing with 503: the stage gives up after its
    retries with exit 3 and one line, keeps its checkpoint, and a rerun completes."""
    # Runs of a few seconds, so that the faults begin well before the end.
    size = {"s3-manifest": 300, "s3-check": 150, "s3-repair": 80, "s3-delete": 150}[stage]
    job = jobs.build(stage, size=size)
    proxy = slow_endpoint(0.15 if stage == "s3-delete" else 0.05)
    env = {**chaos_env, "AWS_ENDPOINT_URL": proxy.url, "AWS_MAX_ATTEMPTS": "2"}
    process = start_cli(
        stage, *job.command(), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    wait_for_commit(process, job.checkpoint, records=5)
    assert process.poll() is None, "the run ended before the faults began"
    proxy.faults.status[("*", "/")] = (503, "ServiceUnavailable")
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 3, stderr
    line = one_error_line(stderr, "retries exhausted")
    assert "ServiceUnavailable" in line or "503" in line, line  # a HEAD answer has no code
    assert b"rerun the same command" in stderr
    committed = committed_records(job.checkpoint)
    assert committed >= 5
    proxy.faults.status.clear()
    final = run_cli(stage, *job.command(), env=env, timeout=120)
    assert final.returncode == job.exit_code, final.stderr
    assert job.verify()[-1]["resumed"] == 1
    figures["retries exhausted (exit 3), then resumed"] += 1


@pytest.mark.parametrize("stage", STAGES)
def test_missing_bucket_and_refused_credentials_are_one_line_exit_3(
    stage: str,
    jobs: Jobs,
    run_cli: Run,
    slow_endpoint: Any,
    figures: Counter[str],
) -> None:
    job = jobs.build(stage, size=20)
    bucket = job.args[0].removeprefix("s3://").split("/")[0]
    missing = [arg.replace(bucket, "no-such-bucket-s3deep") for arg in job.args]
    result = run_cli(stage, *missing)
    assert result.returncode == 3, result.stderr
    one_error_line(result.stderr, "no-such-bucket-s3deep", "NoSuchBucket")
    proxy = slow_endpoint(0)
    for status, code in ((403, "AccessDenied"), (400, "ExpiredToken")):
        proxy.faults.status[("*", "/")] = (status, code)
        refused = run_cli(stage, *job.command(), env={"AWS_ENDPOINT_URL": proxy.url})
        assert refused.returncode == 3, refused.stderr
        line = one_error_line(refused.stderr, bucket)
        assert code in line or str(status) in line, line  # a HEAD answer has no code
        assert any(op in line for op in ("HeadBucket", "ListObjectsV2")), line
        figures["access errors (one line, exit 3)"] += 1
    figures["access errors (one line, exit 3)"] += 1


@pytest.mark.parametrize("stage", ["s3-manifest", "s3-delete"])
def test_credentials_expiring_mid_run_stop_with_exit_3(
    stage: str,
    jobs: Jobs,
    run_cli: Run,
    start_cli: Start,
    slow_endpoint: Any,
    figures: Counter[str],
) -> None:
    """The session token expires during the run: one line naming the operation and
    the bucket, exit 3, the checkpoint kept; with fresh credentials the rerun completes."""
    job = jobs.build(stage, size=200)
    bucket = job.args[0].removeprefix("s3://").split("/")[0]
    proxy = slow_endpoint(0.15)
    env = {"AWS_ENDPOINT_URL": proxy.url}
    process = start_cli(
        stage, *job.command(), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    wait_for_commit(process, job.checkpoint, records=5)
    assert process.poll() is None, "the run ended before the credentials expired"
    proxy.faults.status[("*", "/")] = (400, "ExpiredToken")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 3, stderr
    line = one_error_line(stderr, bucket, "ExpiredToken")
    assert "ListObjectsV2" in line or "DeleteObjects" in line
    proxy.faults.status.clear()
    final = run_cli(stage, *job.command(), env=env, timeout=120)
    assert final.returncode == 0, final.stderr
    job.verify()
    figures["credentials expired mid-run, then resumed"] += 1
