"""The listing scenario: s3-manifest next to s5cmd, the AWS CLI and a boto3 paginator.

Every command lists the whole bucket into a file, in rounds (A B C D E, A B C D E,
...), so that drift on the machine hits all of them alike. E is the server
ceiling (bench.harness.ceiling): one `s5cmd ls` per top-level prefix, all at once, straight
to the server. `s3-manifest --parallel 8` runs only if this s3-manifest has that
option; its object records must be byte-identical to the sequential listing's.
Every run's output is checked before its numbers count.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import ceiling as server_ceiling
from bench.harness import targets as goals
from bench.harness.fixture import Bucket, log, served_bucket
from bench.harness.machine import busy_warning, describe, load_average, markdown_list
from bench.harness.measure import (
    Invocation,
    Series,
    comparison_table,
    rss_floor_mb,
    run_measured,
    samples_table,
)
from bench.harness.rounds import slug
from bench.harness.server import OBJECTS_PER_DIRECTORY, TOP_PREFIXES, listing_digest
from bench.harness.settings import (
    BENCH_DIR,
    BUCKET,
    PROJECT_DIR,
    Report,
    Settings,
    s5cmd_binary,
    venv_tool,
)

OURS = "s3-manifest"
PARALLEL = 8
OURS_PARALLEL = f"s3-manifest --parallel {PARALLEL}"


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


def has_parallel() -> bool:
    """Whether this s3-manifest lists over key ranges in parallel (`--parallel N`)."""
    env = {**os.environ, "COLUMNS": "200", "TERM": "dumb", "NO_COLOR": "1"}
    done = subprocess.run([venv_tool("s3-manifest"), "--help"], capture_output=True, text=True,
                          env=env, check=False)  # fmt: skip
    return "--parallel" in done.stdout


def records(output: Path) -> list[bytes]:
    """The lines between the header and the summary, as bytes."""
    with open(output, "rb") as lines:
        return lines.readlines()[1:-1]


def verify_parallel(bucket: Bucket, output: Path) -> str:
    """As verify_manifest, and the object records byte-identical to the sequential
    listing of the same round (which ran just before)."""
    checked = verify_manifest(bucket, output)
    if records(output) != records(bucket.path(f"{slug(OURS)}.out")):
        raise WrongListing(f"bench: {OURS_PARALLEL}'s records differ from the sequential ones")
    return f"{checked}; object records byte-identical to the sequential listing's"


def listers(only: tuple[str, ...] | None = None, parallel: bool = False) -> list[Lister]:
    """Every lister, or those named in `only`; `s3-manifest --parallel` if `parallel`."""
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
            lambda url, out: [python, str(BENCH_DIR / "harness" / "boto3_list.py"), BUCKET,
                              "--endpoint-url", url],
            to_stdout=True,
            verify=verify_keys,
        ),
    ]  # fmt: skip
    if parallel:
        every.insert(1, Lister(
            OURS_PARALLEL,
            lambda url, out: [venv_tool("s3-manifest"), f"s3://{BUCKET}/", "-o", str(out),
                              "--parallel", str(PARALLEL), "--no-progress", "--endpoint-url", url],
            to_stdout=False,
            verify=verify_parallel,
        ))  # fmt: skip
    return [lister for lister in every if only is None or lister.name in only]


def _invocation(bucket: Bucket, name: str, argv: list[str], stdout: Path) -> Invocation:
    return Invocation(argv, stdout, bucket.path(f"{name}.stderr"), bucket.env, PROJECT_DIR)


def run_rounds(
    bucket: Bucket, settings: Settings, tools: list[Lister]
) -> tuple[list[Series], Series, dict[str, str]]:
    series = [Series(tool.name, len(bucket.keys)) for tool in tools]
    ceiling_jobs = server_ceiling.invocations(
        bucket.server.direct_endpoint, bucket.name, bucket.keys, bucket.work, bucket.env
    )
    ceiling = Series(server_ceiling.name(ceiling_jobs), len(bucket.keys))
    checks: dict[str, str] = {}
    server_cpu = bucket.server.cpu_seconds
    for round_index in range(settings.runs):
        for tool, results in zip(tools, series, strict=True):
            name = slug(tool.name)
            output = bucket.path(f"{name}.out")
            argv = tool.argv(bucket.endpoint, output)
            stdout = output if tool.to_stdout else bucket.path(f"{name}.stdout")
            sample = run_measured(_invocation(bucket, name, argv, stdout), server_cpu)
            checks[tool.name] = tool.verify(bucket, output)
            results.samples.append(sample)
            log(f"run {round_index + 1}/{settings.runs} {tool.name}: {sample.wall_s:.2f} s")
        sample = server_ceiling.measure_once(ceiling_jobs, len(bucket.keys), server_cpu)
        checks["ceiling"] = f"count ({len(bucket.keys)})"
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
    parallel = has_parallel()
    if not parallel:
        log(f"this s3-manifest has no --parallel: no `{OURS_PARALLEL}` row")
    tools = listers(None if only is None else (*only, OURS_PARALLEL), parallel)
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
    if not parallel:
        notes.append(f"`{OURS_PARALLEL}` did not run: this s3-manifest has no `--parallel`.")
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

{server_ceiling.summary(ceiling, settings.latency_ms)}

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

{
        goals.section(
            list_targets(settings, series, ceiling),
            n,
            settings.latency_ms,
            "100,000 objects (peak RSS: 1M)",
        )
    }"""
    return Report(f"list-{settings.objects}", markdown, table)


def list_targets(settings: Settings, series: list[Series], ceiling: Series) -> list[goals.Target]:
    """The listing targets that apply to this run's size and latency."""
    ours, s5cmd = goals.find(series, OURS), goals.find(series, "s5cmd ls")
    found: list[goals.Target] = []
    size = goals.count_label(settings.objects)
    if not settings.latency_ms:
        found += [
            goals.ratio(f"list {size} loopback: s3-manifest client CPU per object <= s5cmd's",
                        ours, [s5cmd], goals.CPU, 1.0),
            goals.ratio(f"list {size} loopback: s3-manifest wall <= 1.1x s5cmd's",
                        ours, [s5cmd], goals.WALL, 1.1),
        ]  # fmt: skip
    else:
        par = goals.find(series, OURS_PARALLEL)
        found += [
            goals.ratio(f"list {size} with 50 ms latency: `{OURS_PARALLEL}` >= 2.5x s5cmd's "
                        "objects/s", par, [s5cmd], goals.RATE, 2.5, at_least=True),
            goals.share(f"list {size} with 50 ms latency: `{OURS_PARALLEL}` >= 80% of the "
                        "ceiling", par, ceiling, 0.8),
            goals.Target(f"list {size} with 50 ms latency: `{OURS_PARALLEL}` output "
                         "byte-identical to the sequential listing",
                         "checked on every run" if par else "did not run",
                         True if par else None),
        ]  # fmt: skip
    if settings.objects >= 1_000_000:
        found += [
            goals.absolute("peak RSS <= 100 MB at 1M objects (s3-manifest)", ours, goals.RSS,
                           goals.RSS_LIMIT_MB),
            goals.within("peak RSS at 1M within 10% of the 100k figure (s3-manifest)", ours,
                         goals.previous_rss(settings.results_dir, "list-100000", OURS),
                         "list-100000.md"),
        ]  # fmt: skip
        par = goals.find(series, OURS_PARALLEL)
        if par is not None:
            found.append(goals.absolute(f"peak RSS <= 100 MB at 1M objects ({OURS_PARALLEL})",
                                        par, goals.RSS, goals.RSS_LIMIT_MB))  # fmt: skip
    return found


def run_large(settings: Settings) -> Report:
    """1M objects by default: s3-manifest's peak RSS (the contract: under 100 MB) and rate
    next to s5cmd ls; the slower listers would take minutes per run."""
    return run(settings, only=(OURS, "s5cmd ls"))
