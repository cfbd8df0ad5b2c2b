"""`make bench`: run benchmark scenarios against a local `rclone serve s3` and write reports.

    python -m bench.run                                  # list, 100k objects, 3 runs
    python -m bench.run --objects 10000 --runs 5 --scenario list
    python -m bench.run --scenario delete --objects 100000 --runs 2
    python -m bench.run --scenario check --scenario read --scenario copy

Each scenario seeds its own bucket under bench/work/ (git-ignored), starts and
stops its own server, prints a Markdown table and writes it with the machine's
description to bench/results/<scenario>-<objects>.md. A new scenario is a module
with `run(settings) -> Report`, registered in SCENARIOS.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from bench import checking, copying, deleting, listing, reading
from bench.common import WrongResult
from bench.measure import CommandFailed
from bench.settings import RESULTS_DIR, Report, Settings

SCENARIOS: dict[str, Callable[[Settings], Report]] = {
    "list": listing.run,
    "delete": deleting.run,
    "check": checking.run,
    "read": reading.run,
    "copy": copying.run,
    "list-1m": listing.run_large,
}
# --objects when not given: sized so that each scenario runs in a few minutes.
DEFAULT_OBJECTS = {"list": 100_000, "delete": 20_000, "check": 100_000, "read": 1000,
                   "copy": 1000, "list-1m": 1_000_000}  # fmt: skip


def parse_args(argv: list[str] | None = None) -> tuple[Settings, list[str]]:
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
        "--slow-runs", type=int, default=1, help="runs of peers that take minutes (aws s3 rm: 1)"
    )
    parser.add_argument("--large", type=int, help="read/copy: large objects (read 20, copy 10)")
    parser.add_argument("--large-mb", type=int, help="their size in MB (read 50, copy 100)")
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
        help="scenario to run, repeatable (default: list)",
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
    chosen = args.scenario or ["list"]
    scenarios = list(SCENARIOS) if "all" in chosen else list(dict.fromkeys(chosen))
    settings = Settings(
        objects=args.objects or 0,  # 0: the scenario's default, see main()
        runs=args.runs,
        etag_hash=args.etag_hash,
        keep_work=args.keep_work,
        results_dir=args.results_dir,
        slow_runs=max(1, args.slow_runs),
        count_requests=not args.no_count,
        large=args.large,
        large_mb=args.large_mb,
        stream_mb=args.stream_mb,
    )
    return settings, scenarios


def main(argv: list[str] | None = None) -> None:
    settings, scenarios = parse_args(argv)
    started = time.perf_counter()
    for name in scenarios:
        scenario_started = time.perf_counter()
        objects = settings.objects or DEFAULT_OBJECTS[name]
        try:
            report = SCENARIOS[name](dataclasses.replace(settings, objects=objects))
        except CommandFailed as exc:
            raise SystemExit(f"bench: {name}: a command failed, so no numbers: {exc}") from None
        except WrongResult as exc:
            raise SystemExit(f"bench: {name}: wrong result, so no numbers: {exc}") from None
        took = time.perf_counter() - scenario_started
        settings.results_dir.mkdir(parents=True, exist_ok=True)
        path = settings.results_dir / f"{report.name}.md"
        path.write_text(report.markdown + f"\nThe whole scenario took {took:.0f} s.\n")
        print(f"\n{report.summary}\n\nbench: wrote {path} ({name} took {took:.0f} s)")
    print(f"bench: done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
