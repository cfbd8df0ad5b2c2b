"""kill -9 at random moments, and SIGINT/SIGTERM, for every stage: nothing lost."""

from __future__ import annotations

import itertools
import random
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from helpers import modified

from .helpers import (
    SIGNALS,
    STAGES,
    Job,
    Jobs,
    Records,
    Run,
    Start,
    committed_records,
    parse,
    send_and_wait,
)

KILLS_PER_STAGE = 20
SLOW = {"s3-manifest": 0.05, "s3-check": 0.04, "s3-repair": 0.03, "s3-delete": 0.15}


def kill_until_done(
    job: Job,
    start_cli: Start,
    env: dict[str, str],
    rng: random.Random,
    signals: list[str],
    kills_wanted: int = KILLS_PER_STAGE,
) -> tuple[int, list[str]]:
    """Starts the job's command and stops it at a random moment, again and again, until a
    run ends by itself or `kills_wanted` SIGKILLs landed. The first stops are the
    `signals` (SIGINT, SIGTERM: the run must commit, exit 130/143 and say how to
    resume); the rest are SIGKILL. Returns (SIGKILLs landed, signals that landed).

    Most stops land 0-0.6 s after the run's first commit (in the middle of the work);
    one SIGKILL in five lands 0-0.4 s after start, during start-up and first requests.
    """
    kills, stopped, runs = 0, [], itertools.count()
    while kills < kills_wanted:
        run = next(runs)
        before = modified(job.checkpoint)
        process = start_cli(
            job.stage, *job.command(run), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        name = signals[len(stopped)] if len(stopped) < len(signals) else "SIGKILL"
        if name == "SIGKILL" and rng.random() < 0.2:
            time.sleep(rng.uniform(0, 0.4))
        else:
            deadline = time.monotonic() + 30
            while modified(job.checkpoint) == before and process.poll() is None:
                assert time.monotonic() < deadline, f"{job.stage} never committed"
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.6))
        if process.poll() is not None:
            _, stderr = process.communicate()
            assert process.returncode == job.exit_code, stderr
            return kills, stopped
        if name == "SIGKILL":
            process.kill()
            process.wait()
            kills += 1
            continue
        signum, code = SIGNALS[name]
        returncode = send_and_wait(process, signum)
        stderr = process.stderr.read().decode() if process.stderr else ""
        assert returncode == code, stderr
        assert f"{job.stage}: interrupted by {name}" in stderr, stderr
        assert "rerun the same command to resume" in stderr and str(job.checkpoint) in stderr
        assert "Traceback" not in stderr
        # What was committed is in the output file (header, records, incomplete summary).
        interrupted = parse(job.out.read_bytes())
        assert len(interrupted) >= committed_records(job.checkpoint) + 2
        assert interrupted[-1]["type"] == "summary" and not interrupted[-1]["complete"]
        stopped.append(name)
    return kills, stopped


def finish(job: Job, run_cli: Run, env: dict[str, str], stops: int) -> Records:
    """Reruns the stopped job to its end: its output must be the reference's, it must say
    it resumed, and once complete the same command must do nothing."""
    final = run_cli(job.stage, *job.command(), env=env, timeout=120)
    assert final.returncode == job.exit_code, final.stderr
    records = job.verify()
    if stops and committed_records(job.checkpoint) and "type" in records[-1]:
        assert records[-1]["resumed"] >= 1, job.stage
    job.assert_rerun_does_nothing(run_cli, env)
    return records


def crash_stage(
    stage: str, jobs: Jobs, run_cli: Run, start_cli: Start, slow_endpoint: Any, env: dict[str, str]
) -> Counter[str]:
    """Kills and interrupts one stage's runs until KILLS_PER_STAGE SIGKILLs and one SIGINT
    and one SIGTERM landed; every run is rerun to its end and must have lost nothing."""
    rng = random.Random(f"kill-{stage}")
    counts: Counter[str] = Counter()
    signals = ["SIGINT", "SIGTERM"]
    while counts["kills"] < KILLS_PER_STAGE or signals:
        assert counts["rounds"] < 6, f"{stage}: only {counts} in 6 rounds"
        counts["rounds"] += 1
        job = jobs.build(stage)
        proxy = slow_endpoint(SLOW[stage])
        run_env = {**env, "AWS_ENDPOINT_URL": proxy.url}
        landed, stopped = kill_until_done(job, start_cli, run_env, rng, signals)
        signals = signals[len(stopped) :]
        records = finish(job, run_cli, run_env, landed + len(stopped))
        counts["kills"] += landed
        counts.update(stopped)
        counts["records compared"] += len(records)
    return counts


def test_kill_9_and_signals_at_random_moments_lose_nothing(
    jobs: Jobs,
    run_cli: Run,
    start_cli: Start,
    slow_endpoint: Any,
    chaos_env: dict[str, str],
    figures: Counter[str],
) -> None:
    """At least 20 SIGKILLs per stage across its runs, plus a SIGINT and a SIGTERM; each
    run is rerun until it completes and its output must equal an uninterrupted run's
    (s3-repair: every key repaired, or found already whole, and the target equal to the
    source; s3-delete: one `deleted` record per input key and nothing else deleted).
    The four stages run side by side, each in its own thread."""
    with ThreadPoolExecutor(len(STAGES)) as pool:
        futures = {
            stage: pool.submit(
                crash_stage, stage, jobs, run_cli, start_cli, slow_endpoint, chaos_env
            )
            for stage in STAGES
        }
        results = {stage: future.result() for stage, future in futures.items()}
    for stage, counts in results.items():
        assert counts["kills"] >= KILLS_PER_STAGE and counts["SIGINT"] and counts["SIGTERM"]
        figures[f"kills survived: {stage}"] += counts["kills"]
        figures[f"SIGINT/SIGTERM survived: {stage}"] += counts["SIGINT"] + counts["SIGTERM"]
        figures["kill rounds (runs rerun to completion)"] += counts["rounds"]
        figures["records compared after kills"] += counts["records compared"]
    figures["records lost"] += 0  # Job.verify fails the test on any difference


# Other modes of the stages, each with a few SIGKILLs (they share the code paths above;
# what differs is how each mode saves and resumes its place).
VARIANTS: dict[str, tuple[Callable[[Jobs], Job], float | None]] = {
    # name: (the job, the proxy's delay per request; None: no S3 requests to slow)
    "s3-manifest --format s3-batch-csv": (Jobs.manifest_csv, 0.05),
    "s3-manifest --parallel 4": (lambda jobs: jobs.manifest_ranges([]), 0.02),
    "s3-manifest --parallel 4 --shard 1/2": (
        lambda jobs: jobs.manifest_ranges(["--shard", "1/2"]),
        0.02,
    ),
    "s3-manifest --inventory": (Jobs.inventory, None),
    "s3-check --mode list, --parallel 1 then 4": (Jobs.check_parallel, 0.03),
}
VARIANT_KILLS = 3


@pytest.mark.parametrize("variant", VARIANTS)
def test_kill_9_in_other_modes_loses_nothing(
    variant: str,
    jobs: Jobs,
    run_cli: Run,
    start_cli: Start,
    slow_endpoint: Any,
    chaos_env: dict[str, str],
    figures: Counter[str],
) -> None:
    """Up to three SIGKILLs at random moments; the rerun's output equals an uninterrupted
    run's, byte for byte between header and summary (for the CSV: row for row), and then
    the same command is a no-op."""
    build, delay = VARIANTS[variant]
    job = build(jobs)
    env = dict(chaos_env)
    if delay is not None:
        env["AWS_ENDPOINT_URL"] = slow_endpoint(delay).url
    rng = random.Random(f"kill-{variant}")
    landed, _ = kill_until_done(job, start_cli, env, rng, [], kills_wanted=VARIANT_KILLS)
    assert landed >= 1, f"{variant}: every run ended before a kill landed"
    records = finish(job, run_cli, env, landed)
    figures[f"kills survived: {variant}"] += landed
    figures["records compared after kills"] += len(records)
