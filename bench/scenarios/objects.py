"""The objects scenario (issue 17): what costs one request per object — HEAD, GET, copy —
next to the peers that do the same, with client CPU per object.

Two `rclone serve s3` servers on 127.0.0.1, A and B. On A: `small` (--objects random
objects of 1-4 KB), `large` (--large random objects of --large-mb MiB), `xsrc`
(--cross objects of --cross-mb MB), the empty `empty`, and `dst` (repair target);
on B: `xdst` (the target of the repair across endpoints). Parts:

- head: `s3-check --mode head` over the manifest of `small` / `rclone lsjson -R
  --files-only --no-traverse --files-from KEYS` (one HEAD per key)
- read small and read large: `s3-check --mode read` / `rclone md5sum --download`
- repair small: `s3-repair` of a check file saying `missing` for every object of
  `small` into the emptied `dst` (server-side copy) / `s5cmd cp 's3://small/*' s3://dst/`
- repair across endpoints: `s3-repair` from A's `xsrc` to B's emptied `xdst`
  (streamed) / `rclone copy A:xsrc B:xdst`

Every command, and a no-op run of each tool (the same command over an empty
manifest, key list or bucket: its start-up), runs in the same rounds, interleaved;
medians of --runs. Client CPU per object = (CPU - the no-op's CPU) / objects. Every
run is checked (records, listed keys, sizes and MD5s) before its numbers count. A
peer that is not installed is reported as missing, never replaced.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.harness.common import (
    REMOTE,
    WrongResult,
    expect,
    invocation,
    make_manifest,
    new_server,
    rclone_argv,
    rclone_remote,
    read_output,
    s3_client,
    s5cmd_argv,
    scratch,
    seed_large,
    tools_env,
    warm_listing,
)
from bench.harness.fixture import log
from bench.harness.measure import CommandFailed, run_measured
from bench.harness.report import Conditions, machine_section, shown
from bench.harness.rounds import Command, Commands, count_round, measure_rounds
from bench.harness.server import RcloneServer, layout_keys
from bench.harness.settings import Report, Settings, find_tool, s5cmd_binary, venv_tool
from bench.scenarios import objects_report
from bench.scenarios.copy_checks import Entries, verify_copy, verify_repair
from bench.scenarios.copying import check_empty, empty_bucket
from bench.scenarios.objects_report import Measured, Part, Row
from bench.scenarios.reading import verify_md5sum, verify_read

LARGE, LARGE_MIB, CROSS, CROSS_MB = 8, 64, 10, 100
SMALL_BYTES = (1024, 4096)
REMOTE_B = "s3benchb"  # rclone's remote for server B

# The no-op run of each tool: its start-up, subtracted from its rows' CPU.
START = {
    "s3-check head": "start-up: s3-check --mode head, empty manifest",
    "s3-check read": "start-up: s3-check --mode read, empty manifest",
    "s3-repair": "start-up: s3-repair, empty check file",
    "s3-repair across": "start-up: s3-repair across endpoints, empty check file",
    "lsjson": "start-up: rclone lsjson, empty key list",
    "md5sum": "start-up: rclone md5sum --download, empty bucket",
    "s5cmd": "start-up: s5cmd cp, empty bucket",
    "rclone copy": "start-up: rclone copy across endpoints, empty bucket",
}
HEAD = Row("head: s3-check --mode head", START["s3-check head"])
LSJSON = Row("head: rclone lsjson --files-from (one HEAD per key)", START["lsjson"])
REPAIR_SMALL = Row("repair small: s3-repair -i check file (server-side copy)",
                   START["s3-repair"])  # fmt: skip
S5CMD = Row("repair small: s5cmd cp (server-side)", START["s5cmd"])
REPAIR_ACROSS = Row("repair across: s3-repair -i check file (streamed)",
                    START["s3-repair across"])  # fmt: skip
ONE_PART = ("--part-concurrency", "1")  # what rclone serve s3 needs if defaults fail
RCLONE_COPY = Row("repair across: rclone copy (streamed)", START["rclone copy"])


def request_path() -> str:
    """Which request path the measured s3deep runs used (S3DEEP_ENGINE, lib/stores/crt)."""
    if os.environ.get("S3DEEP_ENGINE") == "botocore":
        return "botocore (S3DEEP_ENGINE=botocore)"
    return "the awscrt request engine (lib/stores/crt; large ranged GETs through botocore)"


def read_rows(bucket: str) -> tuple[Row, Row]:
    label = bucket.replace("large", "read large").replace("small", "read small")
    return (Row(f"{label}: s3-check --mode read", START["s3-check read"]),
            Row(f"{label}: rclone md5sum --download", START["md5sum"]))  # fmt: skip


@dataclass(frozen=True)
class Sizes:
    objects: int  # small objects (head, read small, repair small)
    large: int  # read large: objects of large_mib MiB
    large_mib: int
    cross: int  # repair across endpoints: objects of cross_mb MB
    cross_mb: int

    @classmethod
    def of(cls, settings: Settings) -> Sizes:
        return cls(settings.objects, settings.large or LARGE, settings.large_mb or LARGE_MIB,
                   CROSS if settings.cross is None else settings.cross,
                   settings.cross_mb or CROSS_MB)  # fmt: skip

    @property
    def name(self) -> str:
        return (f"objects-{self.objects}-{self.large}x{self.large_mib}MiB-"
                f"{self.cross}x{self.cross_mb}MB")  # fmt: skip


def missing_peers() -> dict[str, str]:
    """Peer tools not installed here -> the command that found nothing."""
    missing = {}
    if find_tool("rclone") is None:
        missing["rclone"] = "which rclone"
    try:
        s5cmd_binary()
    except SystemExit:
        missing["s5cmd"] = "which s5cmd"
    return missing


def parts(sizes: Sizes, missing: dict[str, str]) -> list[Part]:
    """The comparisons, with the peers of missing tools named instead of measured."""

    def part(key: str, title: str, ours: Row, peer: Row, tool: str, objects: int,
             megabytes: float = 0.0) -> Part:  # fmt: skip
        if tool in missing:
            gone = (f"{peer.name} ({missing[tool]}: nothing)",)
            return Part(key, title, (ours,), (), objects, megabytes, gone)
        return Part(key, title, (ours,), (peer,), objects, megabytes)

    n = sizes.objects
    large_mb = sizes.large * sizes.large_mib * 2**20 / 1e6
    chosen = [
        part("head", f"HEAD: {n:,} small objects", HEAD, LSJSON, "rclone", n),
        part("read-small", f"Read small: {n:,} objects of 1-4 KB", *read_rows("small"),
             "rclone", n),
        part("read-large", f"Read large: {sizes.large} x {sizes.large_mib} MiB",
             *read_rows("large"), "rclone", sizes.large, large_mb),
        part("repair-small", f"Repair small, same endpoint: {n:,} missing objects",
             REPAIR_SMALL, S5CMD, "s5cmd", n),
        part("repair-across", f"Repair across endpoints, streamed: {sizes.cross} x "
             f"{sizes.cross_mb} MB", REPAIR_ACROSS, RCLONE_COPY, "rclone", sizes.cross,
             float(sizes.cross * sizes.cross_mb)),
    ]  # fmt: skip
    return chosen if sizes.cross else chosen[:-1]


def seed_small(directory: Path, keys: list[str], seed: int = 17) -> Entries:
    """One file of 1-4 KB of random bytes per key; returns (key, size, md5)."""
    rng = random.Random(seed)
    entries = []
    for key in keys:
        data = rng.randbytes(rng.randint(*SMALL_BYTES))
        path = directory / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        entries.append((key, len(data), hashlib.md5(data).hexdigest()))
    return entries


def verify_lsjson(stdout: Path, entries: Entries) -> str:
    listed = {item["Path"]: item["Size"] for item in json.loads(stdout.read_bytes() or b"[]")}
    wanted = {key: size for key, size, _ in entries}
    expect(listed == wanted, f"rclone lsjson: {len(listed)} objects, {len(wanted)} wanted, "
           "or other sizes")  # fmt: skip
    return f"{len(listed)} objects, each with its seeded size"


def verify_nothing(stdout: Path) -> str:
    text = "".join(stdout.read_text(errors="replace").split())
    expect(text in ("", "[]"), f"a no-op run printed {text[:200]!r}")
    return "ran over nothing and printed nothing"


def verify_empty_check(stdout: Path) -> str:
    _, summary = read_output(stdout, "s3-check")
    expect(summary["counts"] == {}, f"s3-check of an empty manifest counted {summary['counts']}")
    return "header and complete summary, no records"


@dataclass(frozen=True)
class World:
    """What the commands need to know: the two servers' endpoints, the data, the scratch."""

    a: str
    b: str
    sets: dict[str, Entries]  # small, large, xsrc
    missing: dict[str, str]
    across_options: tuple[str, ...] = ()  # s3-repair's options across endpoints


def commands_for(world: World, small_only: bool = False) -> Commands:
    """The commands against endpoint A (a counting proxy's in the untimed round); with
    `small_only`, only those on small objects and their no-ops, all on A."""
    check, repair = venv_tool("s3-check"), venv_tool("s3-repair")
    small, large, xsrc = world.sets["small"], world.sets["large"], world.sets["xsrc"]

    def build(endpoint: str, work: Path) -> list[Command]:
        def s3_check(bucket: str, manifest: str, mode: str, out: str) -> list[str]:
            return [check, f"s3://{bucket}/", "-i", str(work / manifest), "-o", str(work / out),
                    "--mode", mode, "--no-progress", "--endpoint-url", endpoint]  # fmt: skip

        def s3_repair(chk: str, out: str, target: str, source: str, across: bool) -> list[str]:
            argv = [repair, f"s3://{target}/", "--from", f"s3://{source}/", "-i", str(work / chk),
                    "-o", str(work / out), "--no-progress"]  # fmt: skip
            if across:
                return [*argv, "--endpoint-url", world.b, "--from-endpoint-url", endpoint,
                        *world.across_options]  # fmt: skip
            return [*argv, "--endpoint-url", endpoint]

        def fresh_dst() -> None:
            empty_bucket(world.a, "dst")
            check_empty(world.a, "dst", work / "small.ndjson", work / "chk-small.ndjson", work)

        def fresh_xdst() -> None:
            empty_bucket(world.b, "xdst")
            check_empty(world.b, "xdst", work / "xsrc.ndjson", work / "chk-x.ndjson", work)

        def checked(out: str, entries: Entries) -> Callable[[Path], str]:
            return lambda _: verify_read(work / out, entries)

        small_read, small_md5 = read_rows("small")
        large_read, large_md5 = read_rows("large")
        ours = [
            Command(START["s3-check head"], s3_check("empty", "empty.ndjson", "head",
                    "noop-head.ndjson"), lambda _: verify_empty_check(work / "noop-head.ndjson")),
            Command(HEAD.name, s3_check("small", "small.ndjson", "head", "head.ndjson"),
                    lambda _: verify_head(work / "head.ndjson", small)),
            Command(START["s3-check read"], s3_check("empty", "empty.ndjson", "read",
                    "noop-read.ndjson"), lambda _: verify_empty_check(work / "noop-read.ndjson")),
            Command(small_read.name, s3_check("small", "small.ndjson", "read", "read-small.ndjson"),
                    checked("read-small.ndjson", small)),
            Command(START["s3-repair"], s3_repair("chk-empty.ndjson", "noop-rep.ndjson", "dst",
                    "small", False), lambda _: verify_empty_repair(work / "noop-rep.ndjson")),
            Command(REPAIR_SMALL.name, s3_repair("chk-small.ndjson", "rep-small.ndjson", "dst",
                    "small", False), lambda _: verify_repair(world.a, "dst", small,
                    work / "rep-small.ndjson", {"copy"}), prepare=fresh_dst),
        ]  # fmt: skip
        across = bool(xsrc) and not small_only
        if not small_only:
            ours[4:4] = [
                Command(
                    large_read.name,
                    s3_check("large", "large.ndjson", "read", "read-large.ndjson"),
                    checked("read-large.ndjson", large),
                )
            ]
        if across:
            ours += [
                Command(START["s3-repair across"], s3_repair("chk-empty-x.ndjson",
                        "noop-rep-x.ndjson", "xdst", "xsrc", True),
                        lambda _: verify_empty_repair(work / "noop-rep-x.ndjson")),
                Command(REPAIR_ACROSS.name, s3_repair("chk-x.ndjson", "rep-x.ndjson", "xdst",
                        "xsrc", True), lambda _: verify_repair(world.b, "xdst", xsrc,
                        work / "rep-x.ndjson", {"upload", "multipart_upload"}),
                        prepare=fresh_xdst),
            ]  # fmt: skip
        peers: list[Command] = []
        if "rclone" not in world.missing:
            keys = work / "keys.txt"
            lsjson = ["lsjson", "-R", "--files-only", "--no-traverse", "--files-from"]
            peers += [
                Command(START["lsjson"], rclone_argv(work, *lsjson, str(work / "no-keys.txt"),
                        f"{REMOTE}:small"), verify_nothing),
                Command(LSJSON.name, rclone_argv(work, *lsjson, str(keys), f"{REMOTE}:small"),
                        lambda stdout: verify_lsjson(stdout, small)),
                Command(START["md5sum"], rclone_argv(work, "md5sum", "--download",
                        f"{REMOTE}:empty"), verify_nothing),
                Command(small_md5.name, rclone_argv(work, "md5sum", "--download",
                        f"{REMOTE}:small"), lambda stdout: verify_md5sum(stdout, small)),
            ]  # fmt: skip
            if not small_only:
                peers.append(
                    Command(
                        large_md5.name,
                        rclone_argv(work, "md5sum", "--download", f"{REMOTE}:large"),
                        lambda stdout: verify_md5sum(stdout, large),
                    )
                )
            if across:
                remote_b = {"extra_env": rclone_remote(REMOTE_B, world.b)}
                peers += [
                    Command(START["rclone copy"], rclone_argv(work, "copy", f"{REMOTE}:empty",
                            f"{REMOTE_B}:xdst"), verify_nothing, **remote_b),
                    Command(RCLONE_COPY.name, rclone_argv(work, "copy", f"{REMOTE}:xsrc",
                            f"{REMOTE_B}:xdst"), lambda _: verify_copy(world.b, "xdst", xsrc),
                            prepare=lambda: empty_bucket(world.b, "xdst"),
                            **remote_b),
                ]  # type: ignore[arg-type]  # fmt: skip
        if "s5cmd" not in world.missing:
            # s5cmd exits 1 when the wildcard matches nothing: that is its no-op run
            peers += [
                Command(START["s5cmd"], s5cmd_argv(endpoint, "cp", "s3://empty/*", "s3://dst/"),
                        verify_nothing, ok_codes=(1,)),
                Command(S5CMD.name, s5cmd_argv(endpoint, "cp", "s3://small/*", "s3://dst/"),
                        lambda _: verify_copy(world.a, "dst", small),
                        prepare=lambda: empty_bucket(world.a, "dst")),
            ]  # fmt: skip
        return ours + peers

    return build


def verify_head(output: Path, entries: Entries) -> str:
    records, summary = read_output(output, "s3-check")
    n = len(entries)
    expect(summary["counts"] == {"ok": n}, f"s3-check counted {summary['counts']}, {n} objects")
    expect([r["key"] for r in records] == [k for k, _, _ in entries], "s3-check: other keys")
    return f"summary counts {{ok: {n}}}, one ok record per key in order"


def verify_empty_repair(output: Path) -> str:
    _, summary = read_output(output, "s3-repair")
    expect(summary["counts"] == {}, f"s3-repair of an empty check file counted {summary}")
    return "header and complete summary, no records"


def seed(root_a: Path, sizes: Sizes) -> dict[str, Entries]:
    log(f"seeding {sizes.objects} small objects, {sizes.large} of {sizes.large_mib} MiB, "
        f"{sizes.cross} of {sizes.cross_mb} MB")  # fmt: skip
    return {
        "small": seed_small(root_a / "small", layout_keys(sizes.objects)),
        "large": seed_large(root_a / "large", sizes.large, sizes.large_mib * 2**20),
        "xsrc": seed_large(root_a / "xsrc", sizes.cross, sizes.cross_mb * 10**6),
    }


def prepare(world: World, work: Path) -> None:
    """Untimed: buckets made, caches warmed, manifests, key list and empty check files."""
    env = tools_env(world.a, work)
    s3_client(world.a).create_bucket(Bucket="dst")
    s3_client(world.b).create_bucket(Bucket="xdst")
    for bucket, entries in world.sets.items():
        warm_listing(world.a, bucket, env, work, len(entries))
        listed = make_manifest(world.a, bucket, work / f"{bucket}.ndjson", env)
        expect(listed == [k for k, _, _ in entries], f"manifest of {bucket}: other keys")
    expect(make_manifest(world.a, "empty", work / "empty.ndjson", env) == [], "empty: keys")
    (work / "keys.txt").write_text("".join(f"{k}\n" for k, _, _ in world.sets["small"]))
    (work / "no-keys.txt").write_text("")
    for endpoint, bucket, out in ((world.a, "dst", "chk-empty.ndjson"),
                                  (world.b, "xdst", "chk-empty-x.ndjson")):  # fmt: skip
        check_empty(endpoint, bucket, work / "empty.ndjson", work / out, work, "head")


def run(settings: Settings) -> Report:
    sizes = Sizes.of(settings)
    missing = missing_peers()
    for tool, how in missing.items():
        log(f"{tool} is not installed ({how} found nothing): its rows are reported missing")
    with scratch(settings, sizes.name) as work:
        root_a, root_b = work / "root-a", work / "root-b"
        sets = seed(root_a, sizes)
        (root_a / "empty").mkdir()
        with new_server(settings, root_a, work) as server_a, RcloneServer(
            venv_tool("rclone"), root_b, work / "rclone-b.log", etag_hash=settings.etag_hash
        ) as server_b:  # fmt: skip
            root_b.mkdir(exist_ok=True)
            world = World(server_a.endpoint, server_b.endpoint, sets, missing)
            prepare(world, work)
            failed = trial_across(world, work) if sizes.cross else None
            if failed:
                world = dataclasses.replace(world, across_options=ONE_PART)
            conditions = Conditions()
            both = lambda: server_a.cpu_seconds() + server_b.cpu_seconds()  # noqa: E731
            series, checks = measure_rounds(server_a, work, commands_for(world), settings.runs,
                                            conditions, server_cpu=both)  # fmt: skip
            conditions.end()
            requests = (count_round(server_a, work, commands_for(world, small_only=True))
                        if settings.count_requests else {})  # fmt: skip
            example = commands_for(dataclasses.replace(world, a="A", b="B"))("A", Path("WORK"))
    measured = Measured({s.name: s for s in series}, checks)
    return build_report(settings, sizes, parts(sizes, missing), measured, requests, example,
                        machine_section(conditions), failed)  # fmt: skip


def trial_across(world: World, work: Path) -> str | None:
    """One untimed s3-repair across endpoints with its defaults; what failed, or None.
    rclone serve s3 writes a multipart upload in part order and may reject parts that
    arrive out of order: then the measured rows use ONE_PART, and the report says why."""
    env = tools_env(world.a, work)
    for command in commands_for(world)(world.a, work):
        if command.name == REPAIR_ACROSS.name:
            assert command.prepare is not None
            command.prepare()
            job = invocation(work, "trial-across", command.argv, env)
            try:
                run_measured(job)
                command.verify(job.stdout)
            except (CommandFailed, WrongResult) as exc:
                log(f"s3-repair across endpoints with its defaults failed: {exc}")
                return str(exc)
    return None


def build_report(
    settings: Settings, sizes: Sizes, chosen: list[Part], measured: Measured,
    requests: dict[str, str], example: list[Command], machine: str, failed: str | None = None,
) -> Report:  # fmt: skip
    """The Markdown report and the terminal summary, from measurements alone."""
    commands = "\n".join(f"- {c.name}: `{shown(c.argv)}`" for c in example)
    counted = "".join(f"\n- {name}: {what}" for name, what in requests.items())
    intro = f"""Medians of {settings.runs} runs per command, all commands interleaved in
rounds, against `rclone serve s3` on 127.0.0.1 (server A; the repair across endpoints
writes to a second one, B). Client CPU per object subtracts each tool's start-up: the
median of the same tool run over nothing in the same rounds (the "start-up" rows).
Ratios are s3deep / peer (below 1: s3deep needs less). Concurrency is each tool's
default: s3-check 16 requests in flight, s3-repair 8 objects and 4 parts, rclone 8
checkers and 4 transfers, s5cmd 256 workers. s3deep's per-object requests went through
{request_path()}.

{across_note(sizes, failed)}

Requests per run, from one more, untimed round through a counting proxy (small objects
only):{counted or " not counted (--no-count)"}"""
    markdown = objects_report.markdown(
        f"Per-object requests: {sizes.objects:,} small objects, {sizes.large} x "
        f"{sizes.large_mib} MiB, {sizes.cross} x {sizes.cross_mb} MB across endpoints",
        intro, chosen, measured, commands, machine,
    )  # fmt: skip
    return Report(sizes.name, markdown, objects_report.summary(chosen, measured))


def across_note(sizes: Sizes, failed: str | None) -> str:
    """Which options s3-repair ran with across endpoints, and why."""
    if not sizes.cross:
        return "No repair across endpoints in this run (--cross 0)."
    if failed is None:
        return ("s3-repair across endpoints ran with its defaults (an untimed trial with them "
                "passed first).")  # fmt: skip
    first = failed.strip().splitlines()[0][:300]
    return (f"s3-repair across endpoints with its defaults failed in an untimed trial "
            f"(`{first}`; rclone serve s3 writes a multipart upload in part order), so its "
            f"measured rows pass `{' '.join(ONE_PART)}`.")  # fmt: skip
