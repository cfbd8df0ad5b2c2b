"""The delete scenario: s3-delete next to s5cmd rm, rclone delete and aws s3 rm.

Deletion is destructive, so every run of every command gets its own copy of the
data: the seeded bucket is a template outside the served root, cloned by hard
links (`cp -al`, seconds for 100k files) into a bucket named after the run and
the command, and a fresh server is started over it (rclone would not see a
directory added under a running server with `--dir-cache-time 1000h`), then its
directory cache is warmed by one listing, as in the list scenario. s3-delete reads
a manifest made before the clock starts (that listing is its warm-up); the
pipeline `s3-manifest | s3-delete` is measured end to end. After every run the
bucket must list empty, no file may be left on disk, and each tool's own output
must account for every object.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.harness import targets as goals
from bench.harness.common import (
    REMOTE,
    clone_tree,
    expect,
    files_under,
    invocation,
    list_bucket,
    make_manifest,
    new_server,
    rclone_argv,
    read_output,
    s5cmd_argv,
    scratch,
    shell,
    tools_env,
    warm_listing,
)
from bench.harness.counting import CountingProxy, describe_counts
from bench.harness.fixture import log
from bench.harness.measure import Series, run_measured, samples_table
from bench.harness.report import Conditions, Rated, machine_section, rate_table, shown
from bench.harness.server import layout_keys, seed_bucket
from bench.harness.settings import Report, Settings, venv_tool

COUNT_SLOW_UP_TO = 20_000  # the counting round skips slow peers above this many objects


@dataclass(frozen=True)
class Context:
    """One run: the endpoint to use, the bucket to empty, the scratch directory."""

    endpoint: str
    bucket: str
    work: Path
    keys: list[str]


@dataclass(frozen=True)
class Deleter:
    name: str
    argv: Callable[[Context], list[str]]
    verify: Callable[[Context, Path], str]  # (context, stdout) -> what was checked
    manifest: bool = False  # needs work/manifest.ndjson of the bucket made beforehand
    slow: bool = False  # minutes per run: settings.slow_runs runs
    per_key: bool = False  # one request per key: slow with added latency above SLOW_ABOVE

    def is_slow(self, settings: Settings) -> bool:
        return self.slow or (
            self.per_key and bool(settings.latency_ms) and settings.objects > COUNT_SLOW_UP_TO
        )


def verify_s3_delete(ctx: Context, _stdout: Path) -> str:
    records, summary = read_output(ctx.work / "out.ndjson", "s3-delete")
    expect(summary["counts"] == {"deleted": len(ctx.keys)},
           f"s3-delete counted {summary['counts']}, {len(ctx.keys)} to delete")  # fmt: skip
    expect([r["key"] for r in records] == ctx.keys, "s3-delete's records are not the keys")
    expect(all(r["type"] == "delete" and r["status"] == "deleted" for r in records),
           "s3-delete wrote a record that is not `deleted`")  # fmt: skip
    return f"summary counts {{deleted: {len(ctx.keys)}}}; one `deleted` record per key, in order"


def count_lines(prefix: str) -> Callable[[Context, Path], str]:
    def verify(ctx: Context, stdout: Path) -> str:
        with open(stdout, encoding="utf-8") as lines:
            count = sum(1 for line in lines if line.startswith(prefix))
        expect(count == len(ctx.keys), f"{count} `{prefix}` lines, {len(ctx.keys)} objects")
        return f"{count} `{prefix.strip()}` lines on stdout"

    return verify


def deleters() -> list[Deleter]:
    delete = venv_tool("s3-delete")
    manifest = venv_tool("s3-manifest")

    def pipeline(c: Context) -> list[str]:
        return shell(
            f"{manifest} s3://{c.bucket}/ --no-progress --endpoint-url {c.endpoint} | "
            f"{delete} s3://{c.bucket}/ -o {c.work / 'out.ndjson'} --no-progress "
            f"--endpoint-url {c.endpoint}"
        )

    return [
        Deleter("s3-delete -i manifest",
                lambda c: [delete, f"s3://{c.bucket}/", "-i", str(c.work / "manifest.ndjson"),
                           "-o", str(c.work / "out.ndjson"), "--no-progress",
                           "--endpoint-url", c.endpoint],
                verify_s3_delete, manifest=True),
        Deleter("s3-manifest piped to s3-delete", pipeline, verify_s3_delete),
        Deleter("s5cmd rm", lambda c: s5cmd_argv(c.endpoint, "rm", f"s3://{c.bucket}/*"),
                count_lines("rm ")),
        Deleter("rclone delete", lambda c: rclone_argv(c.work, "delete", f"{REMOTE}:{c.bucket}"),
                lambda c, out: "bucket and disk only (rclone prints nothing)", per_key=True),
        Deleter("aws s3 rm", lambda c: [venv_tool("aws"), "s3", "rm", "--recursive",
                                        f"s3://{c.bucket}/", "--endpoint-url", c.endpoint],
                count_lines("delete: "), slow=True, per_key=True),
    ]  # fmt: skip


def one_run(
    settings: Settings, work: Path, template: Path, keys: list[str], tool: Deleter, tag: str,
    conditions: Conditions | None,
) -> tuple[Series, str, Counter[str]]:  # fmt: skip
    """Clones the template, serves it, deletes it with `tool`: measured with `conditions`,
    else through a counting proxy."""
    root = work / "root"
    bucket = f"del-{tag}"
    clone_tree(template, root / bucket)
    series = Series(tool.name, len(keys))
    counts: Counter[str] = Counter()
    with new_server(settings, root, work) as server:
        env = tools_env(server.endpoint, work)
        ctx = Context(server.endpoint, bucket, work, keys)
        if tool.manifest:
            listed = make_manifest(server.direct_endpoint, bucket, work / "manifest.ndjson", env)
            expect(listed == keys, "the manifest is not the seeded keys")
        else:
            warm_listing(server.direct_endpoint, bucket, env, work, len(keys))
        if conditions is None:
            with CountingProxy(server.port) as proxy:
                ctx = Context(proxy.endpoint, bucket, work, keys)
                job = invocation(work, "count", tool.argv(ctx), tools_env(proxy.endpoint, work))
                run_measured(job)
                counts = proxy.reset()
        else:
            job = invocation(work, "run", tool.argv(ctx), env)
            conditions.start_run()
            series.samples.append(run_measured(job, server.cpu_seconds))
            conditions.end_run(series.samples[-1])
        checked = tool.verify(ctx, job.stdout)
        left = list_bucket(server.direct_endpoint, bucket)
        expect(not left, f"{tool.name} left {len(left)} objects, e.g. {left[:3]}")
    on_disk = files_under(root / bucket)
    expect(on_disk == 0, f"{tool.name} left {on_disk} files on disk in {bucket}")
    shutil.rmtree(root / bucket, ignore_errors=True)
    return series, f"bucket lists empty, no file left on disk; {checked}", counts


def run(settings: Settings) -> Report:
    n = settings.objects
    tools = deleters()
    with scratch(settings, f"delete-{n}") as work:
        keys = layout_keys(n)
        log(f"seeding {n} objects into the template")
        seeded = seed_bucket(work / "template", "tpl", keys)
        all_series = [Series(tool.name, n) for tool in tools]
        checks: dict[str, str] = {}
        requests: dict[str, str] = {}
        conditions = Conditions()
        for round_index in range(settings.runs):
            for tool, series in zip(tools, all_series, strict=True):
                if tool.is_slow(settings) and round_index >= settings.slow_runs:
                    if settings.slow_runs == 0:
                        checks[tool.name] = "not run: minutes per run here (--slow-runs 0)"
                    continue
                tag = f"{round_index}-{tool.name.split()[0]}"
                done, checks[tool.name], _ = one_run(
                    settings, work, work / "template" / "tpl", keys, tool, tag, conditions
                )
                series.samples.extend(done.samples)
                log(f"run {round_index + 1} {tool.name}: {done.samples[0].wall_s:.2f} s")
        conditions.end()
        if settings.count_requests:
            for tool in tools:
                if tool.is_slow(settings) and (n > COUNT_SLOW_UP_TO or not settings.slow_runs):
                    requests[tool.name] = "not counted (minutes per run at this size)"
                    continue
                _, _, counts = one_run(settings, work, work / "template" / "tpl", keys, tool,
                                       f"count-{tool.name.split()[0]}", None)  # fmt: skip
                requests[tool.name] = describe_counts(counts)
                log(f"{tool.name}: {requests[tool.name]}")
    all_series = [s for s in all_series if s.samples]
    rows = [Rated(s, n, requests.get(s.name, "-")) for s in all_series]
    table = rate_table(rows, "deletes/s")
    example = Context("URL", "BUCKET", Path("WORK"), keys)
    commands = "\n".join(f"  - {t.name}: `{shown(t.argv(example))}`" for t in tools)
    runs = "; ".join(f"{s.name} {len(s.samples)}" for s in all_series)
    found = delete_targets(all_series, tools, settings)
    targets = goals.section(found, n, settings.latency_ms, "100,000 objects")
    markdown = f"""# Deleting {n:,} objects

Medians over runs (per command: {runs}), in rounds, against `rclone serve s3` on
127.0.0.1. Each run deletes its own fresh copy of the same {n:,} objects
({seeded.bytes:,} bytes): the template is cloned by hard links into a new bucket,
a new server is started over it, and its directory cache is warmed by one listing
(for `s3-delete -i manifest`, that listing is the `s3-manifest -o manifest.ndjson`
made before the clock starts; the pipeline row lists and deletes within the clock).
Wall time is the client's start to exit; CPU is user + system of the client's
process tree; peak RSS is its largest process's. Server CPU is rclone's during the run.
Ratios are the first row / peer: below 1 means s3-delete needs less.
"Requests" come from one more, untimed run of each command through a counting proxy.

{table}

- commands:
{commands}
- tools' own settings: s3-delete 1000 keys per DeleteObjects, 10 in flight; s5cmd
  default workers; rclone default `--checkers 8` (one DeleteObject per key);
  aws s3 rm default 10 threads (one DeleteObject per key).

## Correctness (every run)

{chr(10).join(f"- {name}: {what}" for name, what in checks.items())}

{machine_section(conditions)}
## All runs

{samples_table(all_series)}

{targets}"""
    return Report(f"delete-{n}", markdown, table)


def delete_targets(
    series: list[Series], tools: list[Deleter], settings: Settings
) -> list[goals.Target]:
    """Wall <= s5cmd rm's and CPU per object <= 2x s5cmd's, for the manifest-fed row and
    for the pipeline that lists in the clock, as s5cmd does; at 1M, peak RSS <= 100 MB
    and flat against the 100k report."""
    s5cmd = goals.find(series, "s5cmd rm")
    found = []
    for tool in tools[:2]:  # s3-delete -i manifest; s3-manifest piped to s3-delete
        ours = goals.find(series, tool.name)
        found += [
            goals.ratio(f"delete (`{tool.name}`): wall <= s5cmd rm's", ours, [s5cmd],
                        goals.WALL, 1.0),
            goals.ratio(f"delete (`{tool.name}`): CPU per object <= 2x s5cmd rm's", ours,
                        [s5cmd], goals.CPU, 2.0),
        ]  # fmt: skip
        if settings.objects >= 1_000_000:
            before = goals.previous_rss(settings.results_dir, "delete-100000", tool.name)
            found += [
                goals.absolute(f"peak RSS <= 100 MB at 1M objects (`{tool.name}`)", ours,
                               goals.RSS, goals.RSS_LIMIT_MB),
                goals.within(f"peak RSS at 1M within 10% of the 100k figure (`{tool.name}`)",
                             ours, before, "delete-100000.md"),
            ]  # fmt: skip
    return found
