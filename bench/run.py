"""`make bench`: run benchmark scenarios against a local `rclone serve s3` and write reports.

    python -m bench.run                          # the default suite (make bench, ~35 min)
    python -m bench.run --suite full             # and 1M objects, slow peers (make bench-full)
    python -m bench.run --scenario list --objects 10000 --runs 5
    python -m bench.run --scenario delete --objects 100000 --latency-ms 50
    python -m bench.run --scenario check --scenario read --scenario copy
    python -m bench.run --scenario shard --objects 5000   # 1 process vs 4 shards (parallel)
    python -m bench.run --scenario objects                # per-object requests (issue 17)
    python -m bench.run --scenario objects --objects 200 --large 2 --cross 2   # quick

The default suite: list, check and delete at 100k objects, each on loopback and
with 50 ms added per response (bench.harness.latency), 3 runs each; peers that need
minutes per run at that size (`aws s3 rm`, `s3-check --mode head`, and with
latency `rclone delete`, one request per key) are left out. `--suite full` adds
them (one run each), list and check at 1M objects, delete 20k with every peer,
copy and read: hours. Both suites end with the objects scenario (HEAD, GET and copy
per object, next to rclone and s5cmd; a few minutes).

Each scenario seeds its own bucket under bench/work/ (git-ignored), starts and
stops its own server, prints a Markdown table and writes it with the machine's
description to bench/results/<scenario>-<objects>[-latency<ms>ms].md, ending
with the issue's targets checked against the medians. A new scenario is a module
of bench/scenarios/ with `run(settings) -> Report`, registered in SCENARIOS; what
scenarios share is in bench/harness/.
"""

from __future__ import annotations

import argparse
import compileall
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.harness.common import WrongResult
from bench.harness.fixture import log
from bench.harness.measure import CommandFailed
from bench.harness.settings import PROJECT_DIR, RESULTS_DIR, Report, Settings
from bench.scenarios import checking, copying, deleting, listing, objects, reading, sharding

SCENARIOS: dict[str, Callable[[Settings], Report]] = {
    "list": listing.run,
    "delete": deleting.run,
    "check": checking.run,
    "read": reading.run,
    "copy": copying.run,
    "list-1m": listing.run_large,
    "shard": sharding.run,
    "objects": objects.run,
}
# --objects when not given: sized so that each scenario runs in a few minutes.
DEFAULT_OBJECTS = {"list": 100_000, "delete": 20_000, "check": 100_000, "read": 1000,
                   "copy": 1000, "list-1m": 1_000_000, "shard": 5000,
                   "objects": 2000}  # fmt: skip
LATENCY_MS = 50


@dataclass(frozen=True)
class Job:
    """One scenario of a suite: its size, added latency and runs of slow peers (0: none)."""

    scenario: str
    objects: int
    latency_ms: float = 0
    slow_runs: int = 0


PER_OBJECT = Job("objects", DEFAULT_OBJECTS["objects"])
BY_LISTING = [Job(name, 100_000, latency) for name in ("list", "check", "delete")
              for latency in (0, LATENCY_MS)]  # fmt: skip
DEFAULT_SUITE = [*BY_LISTING, PER_OBJECT]
FULL_SUITE = [
    *(Job(j.scenario, j.objects, j.latency_ms, slow_runs=1) for j in BY_LISTING),
    Job("list-1m", 1_000_000), Job("check", 1_000_000), Job("delete", 20_000, slow_runs=1),
    Job("copy", 1000, slow_runs=1), Job("read", 1000), PER_OBJECT,
]  # fmt: skip
SUITES = {"default": DEFAULT_SUITE, "full": FULL_SUITE}


def report_name(name: str, latency_ms: float) -> str:
    return f"{name}-latency{latency_ms:g}ms" if latency_ms else name


def with_latency(markdown: str, latency_ms: float) -> str:
    """The title says so, and a paragraph says how, when a latency proxy was in front."""
    if not latency_ms:
        return markdown
    title, _, rest = markdown.partition("\n")
    return (
        f"{title}, {latency_ms:g} ms added latency\n\nEvery command talked to the server "
        f"through a latency proxy on 127.0.0.1 (`bench/harness/latency.py`): every response "
        f"reaches the client {latency_ms:g} ms after the server sent it (its first byte "
        "that much after the request was complete; bodies stream at full speed once under "
        f"way), and each new connection waits {latency_ms:g} ms before its first request "
        "goes through (the handshake), as over a network with that round-trip time. "
        "Request counts do not depend on it: see the loopback report.\n" + rest
    )


def parse_args(argv: list[str] | None = None) -> tuple[Settings, list[Job]]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Benchmark s3deep against s5cmd, the AWS CLI and boto3 on rclone serve s3.",
    )
    parser.add_argument(
        "--objects", type=int, help="objects to seed (default per scenario: " +
        ", ".join(f"{k} {v}" for k, v in DEFAULT_OBJECTS.items()) + ")",
    )  # fmt: skip
    parser.add_argument("--runs", type=int, default=3, help="measured runs per command (3)")
    parser.add_argument(
        "--slow-runs", type=int, help="runs of peers that take minutes per run, e.g. aws s3 rm "
        "(--scenario: 1; suites: default 0, full 1; 0: left out)",
    )  # fmt: skip
    parser.add_argument(
        "--latency-ms", type=float, help=f"--scenario: a latency proxy in front of the server "
        f"adds this to every response (default 0: none; the suites use 0 and {LATENCY_MS})",
    )  # fmt: skip
    parser.add_argument(
        "--suite", choices=SUITES, help="run a suite of scenarios (default when no --scenario)"
    )
    parser.add_argument(
        "--large", type=int, help="read/copy/objects: large objects (read 20, copy 10, objects 8)"
    )
    parser.add_argument(
        "--large-mb", type=int, help="their size in MB (read 50, copy 100); objects: MiB (64)"
    )
    parser.add_argument(
        "--cross", type=int, help="objects: objects repaired across endpoints (10; 0: none)"
    )
    parser.add_argument("--cross-mb", type=int, help="objects: their size in MB (100)")
    parser.add_argument(
        "--stream-mb", type=int, help="copy: one object of this size streamed (2048; 0: none)"
    )
    parser.add_argument(
        "--no-count", action="store_true", help="skip the untimed request-counting round"
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=[*SCENARIOS, "all"],
        help="scenario to run, repeatable (instead of a suite)",
    )
    parser.add_argument(
        "--etag-hash",
        default="MD5",
        help="rclone --etag-hash: MD5 (default, what S3 clients expect) or '' for none",
    )
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS_DIR, help="where reports go (bench/results)"
    )
    parser.add_argument(
        "--keep-work", action="store_true", help="keep the seeded data and outputs in bench/work/"
    )
    args = parser.parse_args(argv)
    if args.objects is not None and args.objects < 100:
        parser.error("--objects must be at least 100")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.slow_runs is not None and args.slow_runs < 0:
        parser.error("--slow-runs must not be negative")
    if args.latency_ms is not None and args.latency_ms < 0:
        parser.error("--latency-ms must not be negative")
    for option, value in (("--large", args.large), ("--large-mb", args.large_mb),
                          ("--cross-mb", args.cross_mb)):  # fmt: skip
        if value is not None and value < 1:
            parser.error(f"{option} must be at least 1")
    if args.cross is not None and args.cross < 0:
        parser.error("--cross must not be negative")
    if args.suite and args.scenario:
        parser.error("--suite and --scenario exclude each other")
    settings = Settings(
        objects=args.objects or 0,
        runs=args.runs,
        etag_hash=args.etag_hash,
        keep_work=args.keep_work,
        results_dir=args.results_dir,
        slow_runs=1 if args.slow_runs is None else args.slow_runs,
        count_requests=not args.no_count,
        large=args.large,
        large_mb=args.large_mb,
        cross=args.cross,
        cross_mb=args.cross_mb,
        stream_mb=args.stream_mb,
        latency_ms=args.latency_ms or 0,
    )
    if args.scenario:
        chosen = list(SCENARIOS) if "all" in args.scenario else args.scenario
        jobs = [Job(name, settings.objects or DEFAULT_OBJECTS[name], settings.latency_ms,
                    settings.slow_runs) for name in dict.fromkeys(chosen)]  # fmt: skip
    else:
        jobs = [
            Job(job.scenario, args.objects or job.objects,
                job.latency_ms if args.latency_ms is None else args.latency_ms,
                job.slow_runs if args.slow_runs is None else args.slow_runs)
            for job in SUITES[args.suite or "default"]
        ]  # fmt: skip
    return settings, jobs


def main(argv: list[str] | None = None) -> None:
    settings, jobs = parse_args(argv)
    started = time.perf_counter()
    # As after pip install: s3deep's modules have their .pyc, so no run pays to compile
    # them (with PYTHONDONTWRITEBYTECODE set, every start would).
    compileall.compile_dir(PROJECT_DIR / "lib", quiet=1)
    compileall.compile_dir(PROJECT_DIR / "stages", quiet=1)
    for job in jobs:
        scenario_started = time.perf_counter()
        label = f"{job.scenario} {job.objects}" + (
            f" +{job.latency_ms:g} ms" if job.latency_ms else "")  # fmt: skip
        log(f"=== {label}")
        settings_now = dataclasses.replace(
            settings, objects=job.objects, latency_ms=job.latency_ms, slow_runs=job.slow_runs,
            count_requests=settings.count_requests and not job.latency_ms,
        )  # fmt: skip
        try:
            report = SCENARIOS[job.scenario](settings_now)
        except CommandFailed as exc:
            raise SystemExit(f"bench: {label}: a command failed, so no numbers: {exc}") from None
        except WrongResult as exc:
            raise SystemExit(f"bench: {label}: wrong result, so no numbers: {exc}") from None
        took = time.perf_counter() - scenario_started
        settings.results_dir.mkdir(parents=True, exist_ok=True)
        path = settings.results_dir / f"{report_name(report.name, job.latency_ms)}.md"
        markdown = with_latency(report.markdown, job.latency_ms)
        path.write_text(markdown + f"\nThe whole scenario took {took:.0f} s.\n")
        print(f"\n{report.summary}\n\nbench: wrote {path} ({label} took {took:.0f} s)")
    print(f"bench: done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
