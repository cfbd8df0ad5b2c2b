"""The shard scenario: one process against 4 `--shard K/4` processes under GNU parallel.

Same data, same server (`rclone serve s3`), same machine: s3-check in head and list
mode on the damaged replica of the check scenario (`--objects` records), and
s3-delete of 4 x `--objects` objects, each run on a fresh hard-link clone as in the
delete scenario. One-process rows are given at the default concurrency and at 4
times it (what the 4 shards have in flight together), so the table separates what
more requests in flight buy from what more processes (more cores) buy. The shards'
outputs must together equal the seeded damage (check) or name every key exactly
once (delete). Wall and CPU of the sharded rows cover parallel and all 4 shards.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

from bench.harness.common import (
    clone_tree,
    expect,
    make_manifest,
    new_server,
    read_output,
    scratch,
    tools_env,
    warm_listing,
)
from bench.harness.fixture import log
from bench.harness.measure import Series, samples_table
from bench.harness.report import Conditions, Rated, machine_section, rate_table, shown
from bench.harness.rounds import Command, Commands, count_round, measure_rounds
from bench.harness.server import layout_keys, seed_bucket
from bench.harness.settings import Report, Settings, venv_tool
from bench.scenarios.checking import EXTRAS, MISSING, Damage, damage_replica, verify_check_records
from bench.scenarios.deleting import Context, Deleter, one_run, verify_s3_delete

SHARDS = 4
DEFAULT_CONCURRENCY = 16  # s3-check's --concurrency default
DELETE_FACTOR = 4  # the delete part deletes this many times --objects


def gnu_parallel(*argv: str) -> list[str]:
    """`argv` once per shard under GNU parallel; `{}` in argv becomes the shard index."""
    return [venv_tool("parallel"), "--will-cite", "-j", str(SHARDS), *argv,
            ":::", *map(str, range(SHARDS))]  # fmt: skip


def shard_outputs(
    work: Path, pattern: str, stage: str
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """The data records of all shards' outputs, and their summed summary counts."""
    records: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    for index in range(SHARDS):
        part, summary = read_output(work / pattern.format(index), stage)
        expect(bool(part), f"shard {index} wrote no record")
        records += part
        counts.update(summary["counts"])
    return records, counts


def check_commands(damage: Damage, total: int) -> Commands:
    check = venv_tool("s3-check")

    def build(endpoint: str, work: Path) -> list[Command]:
        def argv(mode: str, out: str, *more: str) -> list[str]:
            return [check, "s3://replica/", "-i", str(work / "src.ndjson"), "-o", str(work / out),
                    "--mode", mode, "--no-progress", "--endpoint-url", endpoint, *more]  # fmt: skip

        def single(mode: str, out: str) -> Any:
            head = mode == "head"
            return lambda _: verify_union_of(work, out, damage, total, head, shards=False)

        def sharded(mode: str, out: str) -> Any:
            head = mode == "head"
            return lambda _: verify_union_of(work, out, damage, total, head, shards=True)

        wide = ("--concurrency", str(DEFAULT_CONCURRENCY * SHARDS))
        shard = ("--shard", f"{{}}/{SHARDS}")
        return [
            Command("s3-check --mode head", argv("head", "head.ndjson"),
                    single("head", "head.ndjson"), ok_codes=(1,)),
            Command(f"s3-check --mode head --concurrency {DEFAULT_CONCURRENCY * SHARDS}",
                    argv("head", "head-wide.ndjson", *wide),
                    single("head", "head-wide.ndjson"), ok_codes=(1,)),
            Command(f"s3-check --mode head, {SHARDS} shards under parallel",
                    gnu_parallel(*argv("head", "head-{}.ndjson", *shard)),
                    sharded("head", "head-{}.ndjson"), ok_codes=(SHARDS,)),
            Command("s3-check (list)", argv("list", "list.ndjson"),
                    single("list", "list.ndjson"), ok_codes=(1,)),
            Command(f"s3-check (list), {SHARDS} shards under parallel",
                    gnu_parallel(*argv("list", "list-{}.ndjson", *shard)),
                    sharded("list", "list-{}.ndjson"), ok_codes=(SHARDS,)),
        ]  # fmt: skip

    return build


def what_bounds_head_mode(single: Series, wide: Series, sharded: Series, n: int) -> str:
    """What the head-mode medians say about where the time goes."""
    cores = os.cpu_count() or 1
    busy = single.cpu_s / single.wall_s
    return (
        f"Head mode costs {1000 * single.cpu_s / n:.1f} ms of client CPU per record in one "
        f"process, start-up included (botocore builds, signs and parses each request): "
        f"{busy:.0%} of one core "
        f"over the run. With {SHARDS} times as many requests in flight, that process took "
        f"{wide.wall_s / single.wall_s:.2f}x the wall time, so the server was not what held "
        f"it back. {SHARDS} shards can at best use the {cores} cores, less the server's share; "
        f"they spent {sharded.cpu_s - single.cpu_s:+.1f} s of CPU more than one process "
        f"({SHARDS - 1} more interpreter starts, and each shard reads the whole manifest) and "
        f"took {sharded.wall_s / single.wall_s:.2f}x its wall time. The gain needs idle "
        "cores: see Machine for how much of them other processes took."
    )


def verify_union_of(
    work: Path, out: str, damage: Damage, total: int, head: bool, *, shards: bool
) -> str:
    if shards:
        records, counts = shard_outputs(work, out, "s3-check")
    else:
        records, summary = read_output(work / out, "s3-check")
        counts = Counter(summary["counts"])
    checked = verify_check_records(records, dict(counts), damage, total, head)
    return f"{'the union of the shards: ' if shards else ''}{checked}"


def verify_sharded_delete(ctx: Context, _stdout: Path) -> str:
    records, counts = shard_outputs(ctx.work, "out-{}.ndjson", "s3-delete")
    expect(counts == {"deleted": len(ctx.keys)}, f"the shards counted {counts}")
    deleted = Counter(r["key"] for r in records if r["status"] == "deleted")
    expect(deleted == Counter(ctx.keys), "the shards did not delete every key exactly once")
    return f"the shards' records name every key once, all `deleted` ({len(ctx.keys)})"


def deleters() -> list[Deleter]:
    delete = venv_tool("s3-delete")

    def argv(c: Context, out: str, *more: str) -> list[str]:
        return [delete, f"s3://{c.bucket}/", "-i", str(c.work / "manifest.ndjson"),
                "-o", str(c.work / out), "--no-progress", "--endpoint-url", c.endpoint,
                *more]  # fmt: skip

    return [
        Deleter("s3-delete -i manifest", lambda c: argv(c, "out.ndjson"), verify_s3_delete,
                manifest=True),
        Deleter("s3-delete -i manifest --concurrency 40",
                lambda c: argv(c, "out.ndjson", "--concurrency", "40"), verify_s3_delete,
                manifest=True),
        Deleter(f"s3-delete -i manifest, {SHARDS} shards under parallel",
                lambda c: gnu_parallel(*argv(c, "out-{}.ndjson", "--shard", f"{{}}/{SHARDS}")),
                verify_sharded_delete, manifest=True),
    ]  # fmt: skip


def run_check(settings: Settings, work: Path, conditions: Conditions) -> tuple[str, str, int]:
    n = settings.objects
    root = work / "root"
    keys = layout_keys(n)
    log(f"seeding {n} objects into src, cloning and damaging replica")
    seed_bucket(root, "src", keys)
    clone_tree(root / "src", root / "replica")
    damage = damage_replica(root / "replica", keys)
    build = check_commands(damage, n)
    with new_server(settings, root, work) as server:
        env = tools_env(server.endpoint, work)
        warm_listing(server.direct_endpoint, "replica", env, work, n - MISSING + len(EXTRAS))
        expect(make_manifest(server.direct_endpoint, "src", work / "src.ndjson", env) == keys,
               "the manifest of src is not the seeded keys")  # fmt: skip
        all_series, checks = measure_rounds(server, work, build, settings.runs, conditions)
        requests = count_round(server, work, build) if settings.count_requests else {}
        example = build("URL", Path("WORK"))
    head = [Rated(s, n, requests.get(s.name, "-")) for s in all_series[:3]]
    listed = [Rated(s, n, requests.get(s.name, "-")) for s in all_series[3:]]
    tables = (f"{rate_table(head, 'objects/s')}\n\n{what_bounds_head_mode(*all_series[:3], n)}"
              f"\n\n{rate_table(listed, 'objects/s')}")  # fmt: skip
    commands = "\n".join(f"  - {c.name}: `{shown(c.argv)}`" for c in example)
    correctness = "\n".join(f"- {name}: {what}" for name, what in checks.items())
    runs = len(all_series[0].samples)
    notes = (
        f"{commands}\n\nCorrectness (every run):\n\n{correctness}\n\n{samples_table(all_series)}"
    )
    return tables, notes, runs


def run_delete(settings: Settings, work: Path, conditions: Conditions) -> tuple[str, str]:
    n = settings.objects * DELETE_FACTOR
    keys = layout_keys(n)
    log(f"seeding {n} objects into the delete template")
    seed_bucket(work / "template", "tpl", keys)
    tools = deleters()
    all_series = [Series(tool.name, n) for tool in tools]
    checks: dict[str, str] = {}
    for round_index in range(settings.runs):
        for tool, series in zip(tools, all_series, strict=True):
            tag = f"{round_index}-{len(series.samples)}-{tools.index(tool)}"
            done, checks[tool.name], _ = one_run(
                settings, work, work / "template" / "tpl", keys, tool, tag, conditions
            )
            series.samples.extend(done.samples)
            log(f"run {round_index + 1} {tool.name}: {done.samples[0].wall_s:.2f} s")
    table = rate_table([Rated(s, n) for s in all_series], "deletes/s")
    example = Context("URL", "BUCKET", Path("WORK"), keys)
    commands = "\n".join(f"  - {t.name}: `{shown(t.argv(example))}`" for t in tools)
    correctness = "\n".join(f"- {name}: {what}" for name, what in checks.items())
    notes = (
        f"{commands}\n\nCorrectness (every run):\n\n{correctness}\n\n{samples_table(all_series)}"
    )
    return table, notes


def run(settings: Settings) -> Report:
    n = settings.objects
    conditions = Conditions()
    with scratch(settings, f"shard-{n}") as work:
        check_tables, check_notes, runs = run_check(settings, work / "check", conditions)
        delete_table, delete_notes = run_delete(settings, work / "delete", conditions)
    conditions.end()
    markdown = f"""# {SHARDS} shards under GNU parallel against one process

Medians over {runs} runs per command, in rounds, against `rclone serve s3` on
127.0.0.1, on the same 2-core machine. Ratios are the first row of each table / that
row: above 1 means the row is faster. Wall time runs from the first process's start
to the last one's end; CPU is user + system of the whole process tree (GNU parallel
and its 4 shards); peak RSS is the largest single process's; server CPU is rclone's.
"Requests" come from one more, untimed run through a counting proxy.

## s3-check of {n:,} records against a damaged replica

The replica of the check scenario: {MISSING} missing, size and ETag mismatches, and
{len(EXTRAS)} extras. Each shard reads the whole manifest and keeps the keys that
hash to it; in list mode each shard also lists the whole replica.

{check_tables}

- commands (WORK is the scratch directory):
{check_notes}

## s3-delete of {n * DELETE_FACTOR:,} objects

Each run deletes a fresh hard-link clone of the same objects, served by a new
server whose directory cache is warmed by the listing that makes the manifest.

{delete_table}

- commands:
{delete_notes}

{machine_section(conditions)}"""
    return Report(f"shard-{n}", markdown, check_tables + "\n\n" + delete_table)
