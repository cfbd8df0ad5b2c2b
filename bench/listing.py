"""The listing scenario: s3-manifest next to s5cmd, the AWS CLI and a boto3 paginator.

Every command lists the whole bucket into a file, in rounds (A B C D E, A B C D E,
...), so that drift on the machine hits all of them alike. E is the server
ceiling: one `s5cmd ls` per top-level prefix, all at once. Every run's output is
checked before its numbers count.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.fixture import Bucket, log, served_bucket
from bench.machine import busy_warning, describe, load_average, markdown_list
from bench.measure import (
    Invocation,
    Series,
    comparison_table,
    rss_floor_mb,
    run_measured,
    run_parallel,
    samples_table,
)
from bench.server import OBJECTS_PER_DIRECTORY, TOP_PREFIXES, listing_digest, top_prefixes
from bench.settings import BENCH_DIR, BUCKET, PROJECT_DIR, Report, Settings, s5cmd_binary, venv_tool

OURS = "s3-manifest"


class WrongListing(SystemExit):
    """A command listed something other than the seeded objects: its numbers are void."""


@dataclass(frozen=True)
class Lister:
    name: str
    # (endpoint, output file) -> argv; `to_stdout`: the listing is the command's stdout.
    argv: Callable[[str, Path], list[str]]
    to_stdout: bool
    verify: Callable[[Bucket, Path], str]  # raises WrongListing, or describes what it checked


def count_lines(bucket: Bucket, output: Path, name: str) -> int:
    with open(output, "rb") as lines:
        listed = sum(1 for _ in lines)
    if listed != len(bucket.keys):
        raise WrongListing(f"bench: {name} listed {listed} objects, {len(bucket.keys)} seeded")
    return listed


def verify_manifest(bucket: Bucket, output: Path) -> str:
    """Header, one object record per seeded key in S3 key order with the seeded size and
    MD5 ETag, and a complete summary."""
    keys: list[str] = []
    entries: list[tuple[str, int, str]] = []
    first: dict[str, Any] | None = None
    last: dict[str, Any] = {}
    with open(output, "rb") as lines:
        for number, line in enumerate(lines):
            if number >= 2:  # the previous record is neither the first nor the last
                if last.get("type") != "object":
                    raise WrongListing(f"bench: {OURS} wrote {last} on line {number}: {output}")
                keys.append(last["key"])
                entries.append((last["key"], last["size"], last["etag"]))
            last = json.loads(line)
            if number == 0:
                first = last
    if first is None or first.get("type") != "header":
        raise WrongListing(f"bench: {OURS} output does not start with a header: {output}")
    if last.get("type") != "summary" or not last.get("complete"):
        raise WrongListing(f"bench: {OURS} output has no complete summary: {last}")
    if last["counts"].get("objects") != len(keys):
        raise WrongListing(f"bench: {OURS} summary counts {last['counts']}, {len(keys)} listed")
    if keys != bucket.keys:
        missing = sorted(set(bucket.keys) - set(keys))[:5]
        extra = sorted(set(keys) - set(bucket.keys))[:5]
        raise WrongListing(
            f"bench: {OURS} listed {len(keys)} keys, {len(bucket.keys)} seeded; "
            f"missing {missing}, unexpected {extra}, same set but other order: "
            f"{set(keys) == set(bucket.keys)}"
        )
    if last.get("bytes") != bucket.seeded.bytes:
        raise WrongListing(
            f"bench: {OURS} summed {last.get('bytes')} bytes, {bucket.seeded.bytes} seeded"
        )
    checked = "keys (exact, in order), summary"
    if bucket.server.etag_hash.upper() == "MD5":
        if listing_digest(entries) != bucket.seeded.digest:
            raise WrongListing(f"bench: {OURS} sizes or ETags differ from the seeded objects")
        checked += ", sizes and MD5 ETags"
    return checked


def verify_keys(bucket: Bucket, output: Path) -> str:
    """One key per line, exactly the seeded keys in order."""
    count_lines(bucket, output, "boto3 paginator")
    with open(output, encoding="utf-8") as lines:
        keys = [line.rstrip("\n") for line in lines]
    if keys != bucket.keys:
        raise WrongListing("bench: boto3 paginator listed other keys than the seeded ones")
    return "keys (exact, in order)"


def listers(only: tuple[str, ...] | None = None) -> list[Lister]:
    """Every lister, or those named in `only`."""
    python = sys.executable
    every = [
        Lister(
            OURS,
            lambda url, out: [venv_tool("s3-manifest"), f"s3://{BUCKET}/", "-o", str(out),
                              "--no-progress", "--endpoint-url", url],
            to_stdout=False,
            verify=verify_manifest,
        ),
        Lister(
            "s5cmd ls",
            lambda url, out: [s5cmd_binary(), "--endpoint-url", url, "ls", f"s3://{BUCKET}/*"],
            to_stdout=True,
            verify=lambda b, out: f"count ({count_lines(b, out, 's5cmd')})",
        ),
        Lister(
            "aws s3 ls",
            lambda url, out: [venv_tool("aws"), "s3", "ls", "--recursive", f"s3://{BUCKET}/",
                              "--endpoint-url", url],
            to_stdout=True,
            verify=lambda b, out: f"count ({count_lines(b, out, 'aws s3 ls')})",
        ),
        Lister(
            "boto3 paginator",
            lambda url, out: [python, str(BENCH_DIR / "boto3_list.py"), BUCKET,
                              "--endpoint-url", url],
            to_stdout=True,
            verify=verify_keys,
        ),
    ]  # fmt: skip
    return [lister for lister in every if only is None or lister.name in only]


def _invocation(bucket: Bucket, name: str, argv: list[str], stdout: Path) -> Invocation:
    return Invocation(argv, stdout, bucket.path(f"{name}.stderr"), bucket.env, PROJECT_DIR)


def ceiling_invocations(bucket: Bucket) -> list[Invocation]:
    """One `s5cmd ls` per top-level prefix, each into its own file."""
    invocations = []
    for index, prefix in enumerate(top_prefixes(bucket.keys)):
        argv = [s5cmd_binary(), "--endpoint-url", bucket.endpoint, "ls",
                f"s3://{bucket.name}/{prefix}*"]  # fmt: skip
        invocations.append(_invocation(bucket, f"ceiling-{index}", argv,
                                       bucket.path(f"ceiling-{index}.out")))  # fmt: skip
    return invocations


def run_rounds(
    bucket: Bucket, settings: Settings, tools: list[Lister]
) -> tuple[list[Series], Series, dict[str, str]]:
    series = [Series(tool.name, len(bucket.keys)) for tool in tools]
    ceiling_jobs = ceiling_invocations(bucket)
    ceiling = Series(f"ceiling: {len(ceiling_jobs)} x s5cmd ls in parallel", len(bucket.keys))
    checks: dict[str, str] = {}
    server_cpu = bucket.server.cpu_seconds
    for round_index in range(settings.runs):
        for tool, results in zip(tools, series, strict=True):
            slug = tool.name.split()[0]
            output = bucket.path(f"{slug}.out")
            argv = tool.argv(bucket.endpoint, output)
            stdout = output if tool.to_stdout else bucket.path(f"{slug}.stdout")
            sample = run_measured(_invocation(bucket, slug, argv, stdout), server_cpu)
            checks[tool.name] = tool.verify(bucket, output)
            results.samples.append(sample)
            log(f"run {round_index + 1}/{settings.runs} {tool.name}: {sample.wall_s:.2f} s")
        sample = run_parallel(ceiling_jobs, server_cpu)
        listed = 0
        for job in ceiling_jobs:
            with open(job.stdout, "rb") as lines:
                listed += sum(1 for _ in lines)
        if listed != len(bucket.keys):
            raise WrongListing(f"bench: the ceiling listed {listed} of {len(bucket.keys)} objects")
        checks["ceiling"] = f"count ({listed})"
        ceiling.samples.append(sample)
        log(f"run {round_index + 1}/{settings.runs} ceiling: {sample.wall_s:.2f} s")
    return series, ceiling, checks


def _shown(arg: str) -> str:
    """An argument as the reader would type it: tools by name, bench scripts relative."""
    path = Path(arg)
    if not path.is_absolute():
        return shlex.quote(arg)
    return str(path.relative_to(PROJECT_DIR)) if path.is_relative_to(BENCH_DIR) else path.name


def run(settings: Settings, only: tuple[str, ...] | None = None) -> Report:
    """All listers, or those named in `only`, and the ceiling."""
    tools = listers(only)
    with served_bucket(settings, "list") as bucket:
        floor = rss_floor_mb(bucket.work, bucket.env)
        load_before = load_average()
        busy = busy_warning()
        if busy:
            log(f"warning: {busy}")
        series, ceiling, checks = run_rounds(bucket, settings, tools)
        load_after = load_average()
        server_rss = bucket.server.rss_mb()
        argv_shown = {t.name: t.argv("URL", Path("FILE")) for t in tools}
    ours, peers = series[0], series[1:]
    table = comparison_table(ours, peers, ceiling)
    notes = [f"**Warning:** {busy}."] if busy else []
    faster = [s.name for s in series if s.rate > ceiling.rate]
    if faster:
        notes.append(
            f"{', '.join(faster)} listed faster than the parallel ceiling: at this size, "
            "process start-up outweighs what parallel listing gains."
        )
    if only:
        worst = max(sample.maxrss_mb for sample in ours.samples)
        notes.append(
            f"Only {', '.join(only)} (and the ceiling) ran. {OURS} peak RSS, largest of all "
            f"runs: {worst:.0f} MB (contract: under 100 MB for 1M objects)."
        )
    runs = f"Medians of {settings.runs} runs per command" if settings.runs > 1 else "One run"
    notes_text = "".join(f"\n{note}\n" for note in notes)
    machine = describe({
        "rclone": [venv_tool("rclone"), "version"],
        "s5cmd": [s5cmd_binary(), "version"],
        "aws": [venv_tool("aws"), "--version"],
    })  # fmt: skip
    n = len(bucket.keys)
    commands = "\n".join(
        f"  - {name}: `{' '.join(_shown(a) for a in argv)}`" for name, argv in argv_shown.items()
    )
    correctness = "\n".join(f"- {name}: {what}" for name, what in checks.items())
    markdown = f"""# Listing {n:,} objects

{runs}, run in rounds (every command once per
round, in the order below), against `rclone serve s3` on 127.0.0.1 over a local
directory. Wall time is the client's start to exit, output to a file. CPU is
user + system of the client's process tree (os.wait4 rusage); peak RSS is the
largest process's (launcher floor: {floor:.1f} MB). Server CPU is what rclone used
during the run. Ratios are s3-manifest / peer: below 1 means s3-manifest needs less.

{table}
{notes_text}
## Machine

{markdown_list(machine)}
- load average (1/5/15 min) before / after the runs: {load_before} / {load_after}

## Setup

- {n:,} objects ({bucket.seeded.bytes:,} bytes) in bucket `{bucket.name}`, laid out like
  `logs/2026/12/01/host-07/part-00042.json` ({OBJECTS_PER_DIRECTORY} per directory,
  {len(TOP_PREFIXES)} top-level prefixes),
  plus a few keys with spaces, `+`, `&`, `%`, quotes, `<>` and non-ASCII under `reports/`
- server: `rclone serve s3 --etag-hash {bucket.server.etag_hash} --dir-cache-time 1000h`,
  cache warmed by one full listing ({bucket.timings["warm_s"]:.1f} s) before the runs;
  server peak RSS {server_rss:.0f} MB
- seeding {bucket.timings["seed_s"]:.1f} s (files written straight into the served directory)
- ceiling: one `s5cmd ls` per top-level prefix, all in parallel; objects/s = all keys /
  wall time from the first start to the last exit
- commands:
{commands}

## Correctness (every run)

{correctness}

## All runs

{samples_table([*series, ceiling])}
"""
    return Report(f"list-{settings.objects}", markdown, table)


def run_large(settings: Settings) -> Report:
    """1M objects by default: s3-manifest's peak RSS (the contract: under 100 MB) and rate
    next to s5cmd ls; the slower listers would take minutes per run."""
    return run(settings, only=(OURS, "s5cmd ls"))
