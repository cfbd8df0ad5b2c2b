"""The check scenario: s3-check (list and head modes) next to `rclone check`, bucket against
bucket and local directory against bucket.

Bucket `src` holds the seeded objects; bucket `replica` is a hard-link clone of
it with known damage, written as files before the server starts: objects removed
(missing), rewritten longer (size_mismatch) or rewritten with the same length
(etag_mismatch), and extra objects before the first key, between keys and after
the last one. The local directory is the served directory of `src` itself. Every
run's findings must equal the seeded damage exactly. The server's listing ceiling
(bench.harness.ceiling, over `src`) is measured first.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.harness import ceiling as server_ceiling
from bench.harness import targets as goals
from bench.harness.common import (
    REMOTE,
    clone_tree,
    expect,
    make_manifest,
    new_server,
    rclone_argv,
    read_output,
    scratch,
    shell,
    tools_env,
    warm_listing,
)
from bench.harness.fixture import log
from bench.harness.measure import Series, samples_table
from bench.harness.report import Conditions, Rated, machine_section, rate_table, shown
from bench.harness.rounds import Command, Commands, count_round, measure_rounds
from bench.harness.server import layout_keys, seed_bucket
from bench.harness.settings import Report, Settings, venv_tool

MISSING, LONGER, CHANGED = 7, 5, 5
EXTRAS = ("aaa-extra/before-everything.json", "logs/2026/extra-between.json",
          "reports/2026/extra.txt", "zzz-extra/after-everything-1.json",
          "zzz-extra/after-everything-2.json", "zzz-extra/after-everything-3.json")  # fmt: skip

SLOW_ABOVE = 20_000  # objects: head mode then runs `--slow-runs` times and is not counted
Damage = dict[str, set[str]]  # check status -> keys


def damage_replica(replica: Path, keys: list[str]) -> Damage:
    """Damages the clone (never writing into a hard-linked file: unlink, then write)."""
    step = len(keys) // (MISSING + LONGER + CHANGED + 1)
    chosen = [keys[step * (i + 1)] for i in range(MISSING + LONGER + CHANGED)]
    damage: Damage = {
        "missing": set(chosen[:MISSING]),
        "size_mismatch": set(chosen[MISSING : MISSING + LONGER]),
        "etag_mismatch": set(chosen[MISSING + LONGER :]),
        "extra": set(EXTRAS),
    }
    for key in chosen:
        path = replica / key
        data = path.read_bytes()
        path.unlink()
        if key in damage["size_mismatch"]:
            path.write_bytes(data + b"one more line\n")
        elif key in damage["etag_mismatch"]:
            path.write_bytes(data[:-2] + (b"!\n" if data[-2:] != b"!\n" else b"?\n"))
    for key in EXTRAS:
        (replica / key).parent.mkdir(parents=True, exist_ok=True)
        (replica / key).write_bytes(b'{"extra": true}\n')
    return damage


def verify_check(output: Path, damage: Damage, total: int, head: bool) -> str:
    """The check records' statuses equal the seeded damage; everything else is ok."""
    records, summary = read_output(output, "s3-check")
    return verify_check_records(records, summary["counts"], damage, total, head)


def verify_check_records(
    records: list[dict[str, Any]], counted: dict[str, int], damage: Damage, total: int, head: bool
) -> str:
    """verify_check on records and summary counts already read (of one or more outputs)."""
    found: Damage = defaultdict(set)
    for record in records:
        expect(record["type"] == "check", f"s3-check wrote {record}")
        if record["status"] != "ok":
            found[record["status"]].add(record["key"])
    wanted = {k: v for k, v in damage.items() if not (head and k == "extra")}
    expect(dict(found) == wanted, f"s3-check found {dict(found)}, seeded {wanted}")
    ok = total - sum(len(v) for k, v in damage.items() if k != "extra")
    counts = {"ok": ok, **{k: len(v) for k, v in wanted.items()}}
    expect(counted == counts, f"s3-check counted {counted}, want {counts}")
    return f"statuses equal the seeded damage ({', '.join(f'{k} {v}' for k, v in counts.items())})"


def verify_rclone(combined: Path, damage: Damage, total: int) -> str:
    """rclone's --combined report: `= key` same, `+ key` only in the source (missing from the
    destination), `- key` only in the destination, `* key` differs, `! key` error."""
    found: Damage = defaultdict(set)
    same = 0
    with open(combined, encoding="utf-8") as lines:
        for line in lines:
            mark, key = line[0], line[2:].rstrip("\n")
            if mark == "=":
                same += 1
            else:
                found[mark].add(key)
    wanted = {"+": damage["missing"], "-": damage["extra"],
              "*": damage["size_mismatch"] | damage["etag_mismatch"]}  # fmt: skip
    expect(dict(found) == wanted, f"rclone check found {dict(found)}, seeded {wanted}")
    ok = total - sum(len(v) for k, v in damage.items() if k != "extra")
    expect(same == ok, f"rclone check found {same} identical, want {ok}")
    return (f"--combined equals the seeded damage (= {same}, + {len(wanted['+'])} missing, "
            f"- {len(wanted['-'])} extra, * {len(wanted['*'])} differ)")  # fmt: skip


OURS, PIPE, LOCAL = ("s3-check (list)", "s3-manifest s3://src/ piped to s3-check",
                     "local dir: s3-manifest DIR piped to s3-check")  # fmt: skip
RCLONE, RCLONE_FAST, RCLONE_LOCAL = ("rclone check", "rclone check --fast-list",
                                     "local dir: rclone check DIR")  # fmt: skip


def commands_for(root: Path, damage: Damage, total: int, latency: bool = False) -> Commands:
    """The commands; `latency`: head mode (one request per key) counts as slow at any size,
    and the bucket pipe lists with --parallel 8 on both sides."""
    check, manifest = venv_tool("s3-check"), venv_tool("s3-manifest")
    local = root / "src"
    # With added latency both sides of the pipe list with 8 streams, as rclone check lists
    # with its default 8 checkers; on loopback one stream each.
    streams = " --parallel 8" if latency else ""

    def build(endpoint: str, work: Path) -> list[Command]:
        def s3_check(mode: str, out: str) -> list[str]:
            return [check, "s3://replica/", "-i", str(work / "src.ndjson"), "-o", str(work / out),
                    "--mode", mode, "--no-progress", "--endpoint-url", endpoint]  # fmt: skip

        pipe = (f"{manifest} {local} --no-progress | {check} s3://replica/ -o "
                f"{work / 'out-local.ndjson'} --no-progress --endpoint-url {endpoint}")  # fmt: skip
        bucket_pipe = (f"{manifest} s3://src/{streams} --no-progress --endpoint-url {endpoint} "
                       f"| {check} s3://replica/{streams} -o {work / 'out-pipe.ndjson'} "
                       f"--no-progress --endpoint-url {endpoint}")  # fmt: skip
        return [
            Command("s3-check (list)", s3_check("list", "out-list.ndjson"),
                    lambda _: verify_check(work / "out-list.ndjson", damage, total, False),
                    ok_codes=(1,)),
            Command("s3-check --mode head", s3_check("head", "out-head.ndjson"),
                    lambda _: verify_check(work / "out-head.ndjson", damage, total, True),
                    ok_codes=(1,), slow=total > SLOW_ABOVE or latency),
            Command(PIPE, shell(bucket_pipe),
                    lambda _: verify_check(work / "out-pipe.ndjson", damage, total, False),
                    ok_codes=(1,)),
            Command("rclone check", rclone_argv(work, "check", f"{REMOTE}:src", f"{REMOTE}:replica",
                                                "--combined", str(work / "combined.txt")),
                    lambda _: verify_rclone(work / "combined.txt", damage, total), ok_codes=(1,)),
            Command("rclone check --fast-list", rclone_argv(
                        work, "check", "--fast-list", f"{REMOTE}:src", f"{REMOTE}:replica",
                        "--combined", str(work / "combined-fast.txt")),
                    lambda _: verify_rclone(work / "combined-fast.txt", damage, total),
                    ok_codes=(1,)),
            Command(LOCAL, shell(pipe),
                    lambda _: verify_check(work / "out-local.ndjson", damage, total, False),
                    ok_codes=(1,)),
            Command("local dir: rclone check DIR", rclone_argv(
                        work, "check", str(local), f"{REMOTE}:replica",
                        "--combined", str(work / "combined-local.txt")),
                    lambda _: verify_rclone(work / "combined-local.txt", damage, total),
                    ok_codes=(1,)),
        ]  # fmt: skip

    return build


def run(settings: Settings) -> Report:
    n = settings.objects
    with scratch(settings, f"check-{n}") as work:
        root = work / "root"
        keys = layout_keys(n)
        log(f"seeding {n} objects into src, cloning and damaging replica")
        seeded = seed_bucket(root, "src", keys)
        clone_tree(root / "src", root / "replica")
        damage = damage_replica(root / "replica", keys)
        build = commands_for(root, damage, n, latency=bool(settings.latency_ms))
        with new_server(settings, root, work) as server:
            env = tools_env(server.endpoint, work)
            warm = warm_listing(server.direct_endpoint, "src", env, work, n)
            warm += warm_listing(
                server.direct_endpoint, "replica", env, work, n - MISSING + len(EXTRAS)
            )
            listed = make_manifest(server.direct_endpoint, "src", work / "src.ndjson", env)
            expect(listed == keys, "the manifest of src is not the seeded keys")
            log("measuring the server's listing ceiling")
            ceiling = server_ceiling.measure(server.direct_endpoint, "src", keys, work, env,
                                             settings.runs, server.cpu_seconds)  # fmt: skip
            conditions = Conditions()
            all_series, checks = measure_rounds(
                server, work, build, settings.runs, conditions, settings.slow_runs
            )
            conditions.end()
            for series in all_series:
                series.objects = n
            requests = {}
            if settings.count_requests:
                requests = count_round(server, work, build, skip_slow=n > SLOW_ABOVE)
            example = build("URL", Path("WORK"))
    rows = [Rated(s, n, requests.get(s.name, "-")) for s in all_series]
    runs_note = "; ".join(f"{s.name}: {len(s.samples)}" for s in all_series)
    table = rate_table(rows, "objects/s", ceiling=ceiling.rate)
    commands = "\n".join(f"  - {c.name}: `{shown(c.argv, {str(root): 'ROOT'})}`" for c in example)
    markdown = f"""# Checking {n:,} objects against a damaged replica

{server_ceiling.summary(ceiling, settings.latency_ms)} (s3-check's list mode and rclone
check list the replica; the piped rows and rclone also list the source.)

Medians over runs (per command: {runs_note}), in rounds, against one `rclone serve s3`
on 127.0.0.1 (directory cache warmed: {warm:.1f} s). Ratios are s3-check (list mode) /
peer. "Requests" come from one more, untimed run of each command through a counting
proxy on loopback. Expected: list mode {-(-(n - MISSING + len(EXTRAS)) // 1000):,}
ListObjectsV2 (one per 1000 keys of the replica), head mode {n:,} HeadObject (one per
record).

{table}

- source: bucket `src`, {n:,} objects ({seeded.bytes:,} bytes); its manifest
  `src.ndjson` was made with `s3-manifest` before the runs
- replica: a copy with {MISSING} objects missing, {LONGER} longer (size_mismatch),
  {CHANGED} changed with the same size (etag_mismatch) and {len(EXTRAS)} extras (one before the
  first key, two between keys, three after the last)
- local directory: the served directory of `src` itself (same files)
- commands (WORK is the scratch directory, ROOT the served one):
{commands}

## Correctness (every run)

{chr(10).join(f"- {name}: {what}" for name, what in checks.items())}

{machine_section(conditions)}
## All runs

{samples_table([*all_series, ceiling])}

{
        goals.section(
            check_targets(all_series, n), n, settings.latency_ms, "100,000 objects (peak RSS: 1M)"
        )
    }"""
    return Report(f"check-{n}", markdown, table)


def check_targets(series: list[Series], n: int) -> list[goals.Target]:
    """Wall <= 1.1x and CPU <= 0.5x rclone check's (the better of its rows), bucket vs
    bucket and local dir vs bucket; at 1M, peak RSS <= 0.2x rclone's and <= 100 MB."""
    rclone = [goals.find(series, RCLONE), goals.find(series, RCLONE_FAST)]
    rclone_local = [goals.find(series, RCLONE_LOCAL)]
    pairs = [("bucket vs bucket, manifest of src made beforehand", OURS, rclone),
             ("bucket vs bucket, both listed in the clock", PIPE, rclone),
             ("local dir vs bucket", LOCAL, rclone_local)]  # fmt: skip
    found = []
    for what, name, peers in pairs:
        ours = goals.find(series, name)
        found += [
            goals.ratio(f"check list mode, {what} (`{name}`): wall <= 1.1x rclone check's",
                        ours, peers, goals.WALL, 1.1),
            goals.ratio(f"check list mode, {what} (`{name}`): client CPU <= 0.5x rclone's",
                        ours, peers, goals.CPU, 0.5),
        ]  # fmt: skip
        if n >= 1_000_000:
            found += [
                goals.ratio(f"check at 1M, {what} (`{name}`): peak RSS <= 0.2x rclone's",
                            ours, peers, goals.RSS, 0.2),
                goals.absolute(f"peak RSS <= 100 MB at 1M objects (`{name}`)", ours,
                               goals.RSS, goals.RSS_LIMIT_MB),
            ]  # fmt: skip
    return found
