"""Commands run in rounds (A B C, A B C, ...) against one server, each run's output checked
before its numbers count; and one more, untimed round through a counting proxy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.harness.common import invocation, tools_env
from bench.harness.counting import CountingProxy, describe_counts
from bench.harness.fixture import log
from bench.harness.measure import Series, run_measured
from bench.harness.report import Conditions
from bench.harness.server import RcloneServer


@dataclass(frozen=True)
class Command:
    name: str
    argv: list[str]
    verify: Callable[[Path], str]  # (its stdout) -> what was checked; raises WrongResult
    ok_codes: tuple[int, ...] = (0,)  # s3-check and rclone check exit 1 on differences
    prepare: Callable[[], None] | None = None  # untimed, before each run (e.g. a fresh bucket)
    extra_env: dict[str, str] | None = None  # e.g. the AWS CLI's config file
    slow: bool = False  # minutes per run: only in the first `slow_runs` rounds


# (endpoint, scratch directory) -> the commands, so that they can go through a proxy
Commands = Callable[[str, Path], list[Command]]


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-")


def measure_rounds(
    server: RcloneServer, work: Path, commands: Commands, runs: int, conditions: Conditions,
    slow_runs: int = 1, server_cpu: Callable[[], float] | None = None,
) -> tuple[list[Series], dict[str, str]]:  # fmt: skip
    """`runs` rounds of every command (of a slow one, `slow_runs`: 0 leaves it out); returns
    a Series per command that ran and what was checked for each (for one left out, why);
    samples the load after every run. `server_cpu`: what counts as the server's CPU
    (default `server`'s own; e.g. the sum of two servers)."""
    env = tools_env(server.endpoint, work)
    built = commands(server.endpoint, work)
    all_series = [Series(command.name, 0) for command in built]
    checks: dict[str, str] = {}
    for round_index in range(runs):
        for command, series in zip(built, all_series, strict=True):
            if command.slow and round_index >= slow_runs:
                continue
            if command.prepare:
                command.prepare()
            job = invocation(work, slug(command.name), command.argv,
                             {**env, **(command.extra_env or {})}, command.ok_codes)  # fmt: skip
            conditions.start_run()
            sample = run_measured(job, server_cpu or server.cpu_seconds)
            conditions.end_run(sample)
            checks[command.name] = command.verify(job.stdout)
            series.samples.append(sample)
            log(f"run {round_index + 1}/{runs} {command.name}: {sample.wall_s:.2f} s")
    for command in built:
        if command.slow and slow_runs == 0:
            checks[command.name] = "not run: minutes per run at this size (--slow-runs 0)"
    return [series for series in all_series if series.samples], checks


def count_round(
    server: RcloneServer, work: Path, commands: Commands, skip_slow: bool = False
) -> dict[str, str]:
    """Every command (but slow ones if `skip_slow`) once more, through a counting proxy,
    untimed and checked as well; returns the requests each sent, e.g. `100
    ListObjectsV2, 1 HeadBucket`."""
    requests: dict[str, str] = {}
    with CountingProxy(server.port) as proxy:
        env = tools_env(proxy.endpoint, work)
        for command in commands(proxy.endpoint, work):
            if command.slow and skip_slow:
                requests[command.name] = "not counted at this size (minutes per run)"
                continue
            if command.prepare:
                command.prepare()
            proxy.reset()
            job = invocation(work, slug(command.name), command.argv,
                             {**env, **(command.extra_env or {})}, command.ok_codes)  # fmt: skip
            run_measured(job)
            command.verify(job.stdout)
            requests[command.name] = describe_counts(proxy.reset())
            log(f"{command.name}: {requests[command.name]}")
    return requests
