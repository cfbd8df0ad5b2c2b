"""The copy scenario: s3-repair filling an empty bucket from another, next to rclone copy,
s5cmd cp and aws s3 cp, for many small objects and for a few large ones; and the peak
RSS of s3-repair streaming one multi-GB object.

Sources `srcsmall` (--objects log-like objects) and `srclarge` (--large random
objects of --large-mb MB) are seeded as files; their manifests are made before the
runs. Before every run the destination is emptied through the server (untimed) and,
for the s3-repair rows, checked into a check file of `missing` records (untimed).
"Server-side" rows copy within one endpoint (CopyObject); "streamed" rows read from
http://localhost:PORT and write to http://127.0.0.1:PORT, the same server under
another name, so the bytes pass through the client. After every run the
destination must list exactly the source's keys, sizes and MD5 ETags.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path

from bench.harness.common import (
    REMOTE,
    REMOTE2,
    WrongResult,
    expect,
    list_bucket,
    make_manifest,
    new_server,
    other_name,
    rclone_argv,
    s3_client,
    s5cmd_argv,
    scratch,
    seed_large,
    shell,
    tools_env,
    warm_listing,
)
from bench.harness.fixture import log
from bench.harness.measure import CommandFailed
from bench.harness.report import Conditions
from bench.harness.rounds import Command, Commands, count_round, measure_rounds
from bench.harness.server import layout_keys, seed_bucket
from bench.harness.settings import Report, Settings, venv_tool
from bench.scenarios.copy_checks import Entries, report_markdown, verify_copy, verify_repair

LARGE, LARGE_MB, STREAM_MB = 10, 100, 2048
AWS_CONFIG = "[default]\ns3 =\n  multipart_threshold = 5GB\n"


def empty_bucket(endpoint: str, bucket: str) -> None:
    """Deletes every object through the server (so that its directory cache stays true)."""
    client = s3_client(endpoint)
    keys = [key for key, _, _ in list_bucket(endpoint, bucket)]
    for start in range(0, len(keys), 1000):
        batch = [{"Key": key} for key in keys[start : start + 1000]]
        client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
    expect(not list_bucket(endpoint, bucket), f"could not empty {bucket}")


def check_empty(
    endpoint: str, dst: str, manifest: Path, out: Path, work: Path, mode: str = "list"
) -> None:
    """`s3-check s3://dst/ -i manifest -o out` (untimed) against the emptied `dst`: every
    record `missing`, the input of a timed s3-repair. An empty manifest needs `mode`
    head, where a complete check of nothing exits 0."""
    argv = [venv_tool("s3-check"), f"s3://{dst}/", "-i", str(manifest), "-o", str(out), "-q",
            "--endpoint-url", endpoint, "--mode", mode]  # fmt: skip
    wanted = 0 if mode == "head" else 1
    code = subprocess.run(argv, env=tools_env(endpoint, work)).returncode
    expect(code == wanted, f"s3-check of the empty {dst} exited {code}")


def commands_for(
    server_endpoint: str, sets: dict[str, Entries], aws_config: Path, huge: str = ""
) -> Commands:  # fmt: skip
    """The commands per data set; `huge`: only the streamed ones ("streamed"), or only
    s3-repair with its default part concurrency ("default")."""
    repair, check = venv_tool("s3-repair"), venv_tool("s3-check")

    def build(endpoint: str, work: Path) -> list[Command]:
        commands = []
        for name, entries in sets.items():
            src, dst = f"src{name}", f"dst{name}"
            chk, rep = work / f"chk-{name}.ndjson", work / f"rep-{name}.ndjson"

            def fresh(dst: str = dst) -> None:
                empty_bucket(server_endpoint, dst)

            def fresh_checked(dst: str = dst, src: str = src, chk: Path = chk) -> None:
                empty_bucket(server_endpoint, dst)
                check_empty(server_endpoint, dst, work / f"{src}.ndjson", chk, work)

            def copied(_: Path, dst: str = dst, e: Entries = entries) -> str:
                return verify_copy(server_endpoint, dst, e)

            def repaired(
                actions: set[str], dst: str = dst, e: Entries = entries, rep: Path = rep
            ) -> Callable[[Path], str]:
                return lambda _: verify_repair(server_endpoint, dst, e, rep, actions)

            s3_repair = [repair, f"s3://{dst}/", "--from", f"s3://{src}/", "-o", str(rep),
                         "--no-progress", "--endpoint-url", endpoint]  # fmt: skip
            pipe = (f"{check} s3://{dst}/ -i {work / f'{src}.ndjson'} --no-progress "
                    f"--endpoint-url {endpoint} | {' '.join(s3_repair)}")  # fmt: skip
            # rclone serve s3 streams a multipart upload into its file in part order and
            # rejects big uploads whose parts arrive out of order (real S3 does not):
            # one part in flight is what works against it.
            streamed = [*s3_repair, "-i", str(chk), "--from-endpoint-url", other_name(endpoint),
                        "--part-concurrency", "1"]  # fmt: skip
            every = [
                Command(f"{name}: s3-repair -i check file (server-side copy)",
                        [*s3_repair, "-i", str(chk)], repaired({"copy"}), prepare=fresh_checked),
                Command(f"{name}: s3-check piped to s3-repair (server-side)", shell(pipe),
                        repaired({"copy"}), prepare=fresh),
                Command(f"{name}: s3-repair -i check file (streamed, 1 part in flight)", streamed,
                        repaired({"upload", "multipart_upload"}), prepare=fresh_checked),
                Command(f"{name}: rclone copy (server-side)",
                        rclone_argv(work, "copy", f"{REMOTE}:{src}", f"{REMOTE}:{dst}"),
                        copied, prepare=fresh),
                Command(f"{name}: s5cmd cp (server-side)",
                        s5cmd_argv(endpoint, "cp", f"s3://{src}/*", f"s3://{dst}/"),
                        copied, prepare=fresh),
                Command(f"{name}: aws s3 cp --recursive (server-side)",
                        [venv_tool("aws"), "s3", "cp", "--recursive", "--only-show-errors",
                         f"s3://{src}/", f"s3://{dst}/", "--endpoint-url", endpoint],
                        copied, prepare=fresh, extra_env={"AWS_CONFIG_FILE": str(aws_config)}),
                Command(f"{name}: rclone copy (streamed)",
                        rclone_argv(work, "copy", f"{REMOTE}:{src}", f"{REMOTE2}:{dst}"),
                        copied, prepare=fresh),
            ]  # fmt: skip
            if huge:  # streamed only: what the client's memory holds is the question
                default = Command(f"{name}: s3-repair streamed, default --part-concurrency 4",
                                  [*streamed[:-2]], repaired({"multipart_upload"}),
                                  prepare=fresh_checked)  # fmt: skip
                every = [c for c in every if "(streamed" in c.name]
                if huge == "default":
                    every = [default]
            commands += every
        return commands

    return build


def run(settings: Settings) -> Report:
    large, large_mb = settings.large or LARGE, settings.large_mb or LARGE_MB
    stream_mb = STREAM_MB if settings.stream_mb is None else settings.stream_mb
    n = settings.objects
    name = f"copy-{n}-{large}x{large_mb}MB-{stream_mb}MB"
    with scratch(settings, name) as work:
        root = work / "root"
        log(f"seeding {n} small objects, {large} of {large_mb} MB, one of {stream_mb} MB")
        keys = layout_keys(n)
        seed_bucket(root, "srcsmall", keys)
        small = [(k, len(data), hashlib.md5(data).hexdigest())
                 for k in keys for data in [(root / "srcsmall" / k).read_bytes()]]  # fmt: skip
        sets = {"small": small, "large": seed_large(root / "srclarge", large, large_mb * 10**6)}
        huge = {"huge": seed_large(root / "srchuge", 1, stream_mb * 2**20)} if stream_mb else {}
        aws_config = work / "aws-config"
        aws_config.write_text(AWS_CONFIG)
        with new_server(settings, root, work) as server:
            env = tools_env(server.endpoint, work)
            client = s3_client(server.endpoint)
            for bucket, entries in {**sets, **huge}.items():
                warm_listing(server.direct_endpoint, f"src{bucket}", env, work, len(entries))
                out = work / f"src{bucket}.ndjson"
                listed = make_manifest(server.direct_endpoint, f"src{bucket}", out, env)
                expect(listed == [k for k, _, _ in entries], f"manifest of src{bucket}")
                client.create_bucket(Bucket=f"dst{bucket}")
            build = commands_for(server.endpoint, sets, aws_config)
            conditions = Conditions()
            all_series, checks = measure_rounds(server, work, build, settings.runs, conditions)
            failures: list[str] = []
            if huge and settings.slow_runs:
                build_huge = commands_for(server.endpoint, huge, aws_config, huge="streamed")
                more, more_checks = measure_rounds(
                    server, work, build_huge, settings.slow_runs, conditions
                )
                all_series += more
                checks.update(more_checks)
                try:  # out-of-order parts against rclone serve s3: reported, not fatal
                    more, more_checks = measure_rounds(
                        server, work, commands_for(server.endpoint, huge, aws_config, "default"),
                        settings.slow_runs, conditions,
                    )  # fmt: skip
                    all_series += more
                    checks.update(more_checks)
                except (CommandFailed, WrongResult) as exc:
                    failures.append(str(exc))
                    log(f"FAILED: the {stream_mb} MB stream with 4 parts in flight: {exc}")
            conditions.end()
            requests = count_round(server, work, build) if settings.count_requests else {}
            server_rss = server.rss_mb()
            url, scratch_dir = "http://127.0.0.1:PORT", Path("WORK")
            example = build(url, scratch_dir)
            if huge:
                for variant in ("streamed", "default"):
                    example += commands_for(url, huge, aws_config, variant)(url, scratch_dir)
    return report_markdown(name, settings, sets, huge, all_series, checks, requests, example,
                           conditions, server_rss, failures)  # fmt: skip
