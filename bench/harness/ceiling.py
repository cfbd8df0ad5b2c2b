"""The server's ceiling: how many keys per second `rclone serve s3` lists at most, however
many clients ask. One `s5cmd ls` per top-level prefix, all at once, straight to the
server (never through the latency proxy): wall time from the first start to the last
exit. Every listing figure of a report is also given as a share of it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bench.harness.common import WrongResult
from bench.harness.measure import Invocation, Sample, Series, run_parallel
from bench.harness.server import top_prefixes
from bench.harness.settings import PROJECT_DIR, s5cmd_binary


def invocations(
    endpoint: str, bucket: str, keys: list[str], work: Path, env: dict[str, str]
) -> list[Invocation]:
    """One `s5cmd ls` per top-level prefix of `keys`, each into its own file."""
    jobs = []
    for index, prefix in enumerate(top_prefixes(keys)):
        argv = [s5cmd_binary(), "--endpoint-url", endpoint, "ls", f"s3://{bucket}/{prefix}*"]
        jobs.append(Invocation(argv, work / f"ceiling-{index}.out",
                               work / f"ceiling-{index}.stderr", env, PROJECT_DIR))  # fmt: skip
    return jobs


def name(jobs: list[Invocation]) -> str:
    return f"ceiling: {len(jobs)} x s5cmd ls in parallel"


def measure_once(
    jobs: list[Invocation], expected: int, server_cpu: Callable[[], float] | None = None
) -> Sample:
    """One parallel run; raises WrongResult unless the files hold `expected` lines."""
    sample = run_parallel(jobs, server_cpu)
    listed = 0
    for job in jobs:
        with open(job.stdout, "rb") as lines:
            listed += sum(1 for _ in lines)
    if listed != expected:
        raise WrongResult(f"bench: the ceiling listed {listed} of {expected} objects")
    return sample


def measure(
    endpoint: str, bucket: str, keys: list[str], work: Path, env: dict[str, str], runs: int,
    server_cpu: Callable[[], float] | None = None,
) -> Series:  # fmt: skip
    """`runs` parallel runs over `bucket`, which must hold exactly `keys`."""
    jobs = invocations(endpoint, bucket, keys, work, env)
    series = Series(name(jobs), len(keys))
    for _ in range(runs):
        series.samples.append(measure_once(jobs, len(keys), server_cpu))
    return series


def summary(ceiling: Series, latency_ms: float) -> str:
    """The paragraph at the top of a report."""
    behind = (f" (measured straight against the server, not through the {latency_ms:g} ms "
              "latency proxy)" if latency_ms else "")  # fmt: skip
    return (
        f"**Server ceiling: {ceiling.rate:,.0f} objects/s**{behind}: {ceiling.name.split(': ')[1]}"
        f" over disjoint top-level prefixes, median of {len(ceiling.samples)}; the local "
        'server, not the client, limits listing here. "% of ceiling" is a row\'s objects/s '
        "divided by it."
    )
