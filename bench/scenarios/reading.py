"""The read scenario: `s3-check --mode read` (download and recompute MD5 / ETag) next to
`rclone md5sum --download` and `rclone check --download`.

Two buckets on one server: `large` ({large} random objects of {large_mb} MB by
default) and `small` (--objects log-like objects of a few hundred bytes). Their
manifests are made before the runs. The local directories for `rclone check
--download` are the served directories themselves (read from the page cache).
Every run must find every object intact, and rclone's MD5s must be the seeded ones.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from bench.harness.common import (
    REMOTE,
    expect,
    make_manifest,
    new_server,
    rclone_argv,
    read_output,
    scratch,
    seed_large,
    tools_env,
    warm_listing,
)
from bench.harness.fixture import log
from bench.harness.measure import samples_table
from bench.harness.report import Conditions, Rated, machine_section, rate_table, shown
from bench.harness.rounds import Command, Commands, count_round, measure_rounds
from bench.harness.server import layout_keys, seed_bucket
from bench.harness.settings import Report, Settings, venv_tool

LARGE, LARGE_MB = 20, 50
Entries = list[tuple[str, int, str]]  # key, size, md5


def verify_read(output: Path, entries: Entries) -> str:
    records, summary = read_output(output, "s3-check")
    n = len(entries)
    expect(summary["counts"] == {"ok": n}, f"s3-check counted {summary['counts']}, {n} objects")
    expect([r["key"] for r in records] == [k for k, _, _ in entries], "s3-check: other keys")
    total = sum(size for _, size, _ in entries)
    expect(summary.get("bytes") == total, f"s3-check read {summary.get('bytes')} bytes, {total}")
    return f"summary counts {{ok: {n}}}, {total:,} bytes read, one ok record per key"


def verify_md5sum(stdout: Path, entries: Entries) -> str:
    with open(stdout, encoding="utf-8") as lines:
        found = dict(reversed(line.rstrip("\n").split("  ", 1)) for line in lines)
    wanted = {key: md5 for key, _, md5 in entries}
    expect(found == wanted, f"rclone md5sum: {len(found)} sums, {len(wanted)} objects, or other")
    return f"{len(found)} MD5s, each the seeded one"


def verify_rclone_check(stderr: Path, entries: Entries) -> str:
    text = stderr.read_text(errors="replace")
    matching = re.search(r"(\d+) matching files", text)
    expect("0 differences found" in text and matching is not None
           and int(matching.group(1)) == len(entries),
           f"rclone check --download did not match all {len(entries)}: {text[-500:]}")  # fmt: skip
    return f"0 differences, {len(entries)} matching files"


def commands_for(root: Path, sets: dict[str, Entries]) -> Commands:
    check = venv_tool("s3-check")

    def build(endpoint: str, work: Path) -> list[Command]:
        commands = []
        for name, entries in sets.items():
            out = work / f"read-{name}.ndjson"
            argv = [check, f"s3://{name}/", "-i", str(work / f"{name}.ndjson"), "-o", str(out),
                    "--mode", "read", "--no-progress", "--endpoint-url", endpoint]  # fmt: skip
            commands += [
                Command(f"{name}: s3-check --mode read", argv,
                        lambda _, o=out, e=entries: verify_read(o, e)),
                Command(f"{name}: rclone md5sum --download",
                        rclone_argv(work, "md5sum", "--download", f"{REMOTE}:{name}"),
                        lambda stdout, e=entries: verify_md5sum(stdout, e)),
                Command(f"{name}: rclone check --download",
                        rclone_argv(work, "check", "--download", str(root / name),
                                    f"{REMOTE}:{name}"),
                        lambda stdout, e=entries: verify_rclone_check(
                            stdout.with_suffix(".stderr"), e)),
            ]  # fmt: skip
        return commands

    return build


def run(settings: Settings) -> Report:
    large, large_mb = settings.large or LARGE, settings.large_mb or LARGE_MB
    n = settings.objects
    name = f"read-{large}x{large_mb}MB-{n}"
    with scratch(settings, name) as work:
        root = work / "root"
        log(f"seeding {large} objects of {large_mb} MB and {n} small ones")
        big = seed_large(root / "large", large, large_mb * 1_000_000)
        keys = layout_keys(n)
        seed_bucket(root, "small", keys)
        small = []
        for key in keys:  # the seeded sizes and MD5s, for rclone md5sum's output
            data = (root / "small" / key).read_bytes()
            small.append((key, len(data), hashlib.md5(data).hexdigest()))
        sets = {"large": big, "small": small}
        build = commands_for(root, sets)
        with new_server(settings, root, work) as server:
            env = tools_env(server.endpoint, work)
            for bucket, entries in sets.items():
                warm_listing(server.direct_endpoint, bucket, env, work, len(entries))
                listed = make_manifest(
                    server.direct_endpoint, bucket, work / f"{bucket}.ndjson", env
                )
                expect(listed == [k for k, _, _ in entries], f"manifest of {bucket}: other keys")
            conditions = Conditions()
            all_series, checks = measure_rounds(server, work, build, settings.runs, conditions)
            conditions.end()
            requests = count_round(server, work, build) if settings.count_requests else {}
            example = build("URL", Path("WORK"))
    rows: dict[str, list[Rated]] = {bucket: [] for bucket in sets}
    for series in all_series:
        bucket = series.name.split(":")[0]
        total = sum(size for _, size, _ in sets[bucket])
        rows[bucket].append(Rated(series, total / 1e6, requests.get(series.name, "-")))
    tables = {bucket: rate_table(r, "MB/s") for bucket, r in rows.items()}
    per_s = {bucket: rate_table([Rated(r.series, len(sets[bucket]), r.requests) for r in rs],
                                "objects/s") for bucket, rs in rows.items()}  # fmt: skip
    commands = "\n".join(f"  - {c.name}: `{shown(c.argv, {str(root): 'ROOT'})}`" for c in example)
    large_bytes = sum(size for _, size, _ in big)
    small_bytes = sum(size for _, size, _ in small)
    markdown = f"""# Reading and verifying content: {large} x {large_mb} MB, and {n:,} small objects

Medians of {settings.runs} runs per command, in rounds, against one `rclone serve s3` on
127.0.0.1. s3-check downloads each object and recomputes its MD5 (and any stored
checksum) against the manifest; `rclone md5sum --download` downloads and hashes;
`rclone check --download` compares the bytes of the local directory (the served
directory itself) with the downloaded ones. Ratios are the s3-check row / peer.
"Requests" come from one more, untimed run through a counting proxy.

## {large} objects of {large_mb} MB ({large_bytes:,} bytes, random)

{tables["large"]}

## {n:,} small objects ({small_bytes:,} bytes)

{per_s["small"]}

- commands (WORK is the scratch directory, ROOT the served one):
{commands}

## Correctness (every run)

{chr(10).join(f"- {name}: {what}" for name, what in checks.items())}

{machine_section(conditions)}
## All runs

{samples_table(all_series)}
"""
    summary = f"{tables['large']}\n\n{per_s['small']}"
    return Report(name, markdown, summary)
