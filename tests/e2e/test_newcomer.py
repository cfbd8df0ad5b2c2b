"""What a new user meets running the stages by hand: no silent waits, pointed errors,
honest progress (console scripts as subprocesses against the moto server)."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.helpers import committed_records, parse, wait_for_commit

RunCli = Callable[..., subprocess.CompletedProcess[bytes]]
StartCli = Callable[..., subprocess.Popen[bytes]]


def read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    """What `fd` gives until `needle` appears or `timeout` passes."""
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        seen += chunk
    return seen


@pytest.mark.parametrize(
    ("stage", "args", "upstream"),
    [
        ("s3-check", [], "s3-manifest's output (object records)"),
        ("s3-repair", ["--from", "s3://{bucket}/src/"], "s3-check's output (check records)"),
        ("s3-delete", ["--dry-run"], "s3-manifest's or s3-check's output"),
    ],
)
def test_stdin_on_a_terminal_is_announced_and_one_ctrl_d_ends_it(
    start_cli: StartCli, bucket: str, stage: str, args: list[str], upstream: str
) -> None:
    controller, terminal = pty.openpty()
    try:
        target = [f"s3://{bucket}/dst/"]
        arguments = [*target, *(arg.format(bucket=bucket) for arg in args), "--no-progress"]
        process = start_cli(
            stage, *arguments, stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert process.stderr is not None
        said = read_until(process.stderr.fileno(), b"ends input\n", timeout=20)
        assert said.decode() == (
            f"{stage}: reading records from stdin (a terminal); pass -i FILE, or pipe "
            f"{upstream} in; Ctrl-D ends input\n"
        )
        os.write(controller, b"\x04")  # one Ctrl-D on an empty line: the end of input
        stdout, _ = process.communicate(timeout=20)
    finally:
        os.close(controller)
        os.close(terminal)
    assert b'"type":"summary"' in stdout


def test_stdin_that_is_not_a_terminal_gets_no_note(run_cli: RunCli, bucket: str) -> None:
    result = run_cli("s3-check", f"s3://{bucket}/", "--no-progress", input=b"")
    assert b"reading records from stdin" not in result.stderr


def test_a_resumed_run_says_once_after_how_many_records(
    start_cli: StartCli,
    run_cli: RunCli,
    slow_endpoint: Callable[[float], Any],
    seed_objects: Callable[[str, dict[str, bytes]], None],
    bucket: str,
    tmp_path: Path,
) -> None:
    seed_objects(bucket, {f"k{i:03d}": b"x" for i in range(40)})
    manifest = tmp_path / "src.ndjson"
    assert run_cli("s3-manifest", f"s3://{bucket}/", "-o", manifest, "-q").returncode == 0
    out, checkpoint = tmp_path / "chk.ndjson", tmp_path / "chk.ck"
    args = ["-i", manifest, "-o", out, "--checkpoint", checkpoint, "--mode", "head"]
    slow = slow_endpoint(0.05)  # one HEAD at a time: 40 records take about 2 s
    first = start_cli(
        "s3-check",
        *args,
        "--concurrency",
        "1",
        "--endpoint-url",
        slow.url,
        stderr=subprocess.PIPE,
    )
    wait_for_commit(first, checkpoint, records=1)
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=20) == 143
    done = committed_records(checkpoint)
    assert 1 <= done < 40
    second = run_cli("s3-check", *args, "--concurrency", "1", "--endpoint-url", slow.url)
    lines = second.stderr.decode().splitlines()
    assert lines[0] == f"s3-check: resuming after {done} records"
    assert second.returncode == 0 and sum("resuming" in line for line in lines) == 1


@pytest.mark.parametrize(
    ("stage", "args"),
    [
        ("s3-manifest", ["s3://b/data/"]),
        ("s3-check", ["s3://b/backup/"]),
        ("s3-repair", ["s3://b/backup/", "--from", "s3://a/data/"]),
        ("s3-delete", ["s3://b/backup/", "--dry-run"]),
    ],
)
def test_a_refused_endpoint_fails_at_once_naming_it(
    run_cli: RunCli, refused_endpoint: str, tmp_path: Path, stage: str, args: list[str]
) -> None:
    endpoint = refused_endpoint
    manifest = b'{"type":"object","bucket":"a","key":"data/k","size":1}\n'
    out = tmp_path / "out.ndjson"
    started = time.monotonic()
    assert run_cli(stage, "--help").returncode == 0
    start_up = time.monotonic() - started  # on a loaded machine, seconds by itself
    started = time.monotonic()
    result = run_cli(stage, *args, "-o", out, input=manifest, env={"AWS_ENDPOINT_URL": endpoint})
    took = time.monotonic() - started - start_up
    assert result.returncode == 3
    assert result.stderr.decode().splitlines() == [
        f"{stage}: error: cannot connect to {endpoint}: connection refused",
        f"{stage}: hint: check --endpoint-url, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL and "
        "that the server is running",
    ]
    # Retried, 10 attempts with botocore's backoff would take about a minute.
    assert took < 15, f"{stage} took {took:.1f}s beyond start-up to give up on a refused connection"


STAGE_ARGS = [
    ("s3-manifest", ["s3://{bucket}/data/"]),
    ("s3-check", ["s3://{bucket}/backup/"]),
    ("s3-repair", ["s3://{bucket}/backup/", "--from", "s3://{bucket}/data/"]),
    ("s3-delete", ["s3://{bucket}/backup/", "--dry-run"]),
]


@pytest.mark.parametrize(("stage", "args"), STAGE_ARGS)
@pytest.mark.parametrize("option", ["-o", "--checkpoint"])
def test_a_missing_directory_is_a_usage_error_before_any_request(
    run_cli: RunCli,
    slow_endpoint: Callable[[float], Any],
    bucket: str,
    tmp_path: Path,
    stage: str,
    args: list[str],
    option: str,
) -> None:
    counter = slow_endpoint(0)
    missing = tmp_path / "no-such-dir"
    files = {"-o": tmp_path / "out.ndjson", "--checkpoint": tmp_path / "run.ck"}
    files[option] = missing / files[option].name
    stage_args = [arg.format(bucket=bucket) for arg in args]
    result = run_cli(
        stage,
        *stage_args,
        *(str(item) for pair in files.items() for item in pair),
        "--endpoint-url",
        counter.url,
        input=b"",
    )
    assert result.returncode == 2
    name = "--output" if option == "-o" else option
    assert result.stderr.decode().splitlines() == [
        f"{stage}: error: {name} {files[option]}: directory {missing} does not exist",
        f"{stage}: hint: create it (mkdir -p {missing}) or give another path",
    ]
    assert counter.requests() == []
    assert sorted(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("stage", "args", "why"),
    [
        ("s3-manifest", ["s3://no-such-bucket/"], "NoSuchBucket"),
        # No TARGET: the first request is the first record's HEAD, inside the run.
        ("s3-check", ["--mode", "head", "--endpoint-url", "{refused}"], "connection refused"),
    ],
)
def test_a_run_that_fails_before_its_first_record_leaves_no_file(
    run_cli: RunCli, refused_endpoint: str, tmp_path: Path, stage: str, args: list[str], why: str
) -> None:
    manifest = b'{"type":"object","bucket":"no-such-bucket","key":"k","size":1}\n'
    out, checkpoint = tmp_path / "out.ndjson", tmp_path / "run.ck"
    stage_args = [arg.format(refused=refused_endpoint) for arg in args]
    result = run_cli(stage, *stage_args, "-o", out, "--checkpoint", checkpoint, input=manifest)
    assert result.returncode == 3, result.stderr
    assert why in result.stderr.decode()
    # Only the checkpoint's lock file stays: it is never deleted (README, Resume).
    assert sorted(path.name for path in tmp_path.iterdir()) == ["run.ck.lock"]


MANIFEST_LINE = b'{"type":"object","bucket":"b","key":"data/k","size":1,"etag":"e"}\n'
CHECK_LINE = b'{"type":"check","bucket":"b","key":"data/k","status":"missing"}\n'
REPAIR_LINE = b'{"type":"repair","bucket":"b","key":"data/k","status":"repaired"}\n'


@pytest.mark.parametrize(
    ("stage", "args", "line", "said"),
    [
        (
            "s3-repair",
            ["--from", "s3://{bucket}/src/"],
            MANIFEST_LINE,
            "s3-repair reads check records (s3-check's output), not an object record",
        ),
        (
            "s3-check",
            [],
            CHECK_LINE,
            "s3-check reads object records (s3-manifest's output), not a check record",
        ),
        (
            "s3-delete",
            [],
            REPAIR_LINE,
            "s3-delete reads object records, or check records with --status, not a repair record",
        ),
    ],
    ids=["s3-repair", "s3-check", "s3-delete"],
)
def test_wrong_records_get_the_pipeline_that_makes_the_right_ones(
    run_cli: RunCli, bucket: str, stage: str, args: list[str], line: bytes, said: str
) -> None:
    stage_args = [f"s3://{bucket}/dst/", *(arg.format(bucket=bucket) for arg in args)]
    result = run_cli(stage, *stage_args, "--no-progress", input=line)
    assert result.returncode == 2
    lines = result.stderr.decode().splitlines()
    assert lines[0] == f"{stage}: error: line 1: {said}"
    hint = lines[1].removeprefix(f"{stage}: hint: run ")
    upstream = {"s3-check": "s3-manifest", "s3-repair": "s3-check", "s3-delete": "s3-check"}
    assert hint.startswith(f"{upstream[stage]} ") and f"| {stage} TARGET" in hint


def test_check_records_without_status_get_an_example(run_cli: RunCli, bucket: str) -> None:
    result = run_cli("s3-delete", f"s3://{bucket}/", "--no-progress", input=CHECK_LINE)
    assert result.returncode == 2
    assert result.stderr.decode().splitlines() == [
        "s3-delete: error: line 1: check records need --status to say which statuses to delete",
        "s3-delete: hint: add --status extra to delete what s3-check found only in the target",
    ]


def test_a_from_that_misses_the_listed_prefix_is_pointed_out(
    run_cli: RunCli, put_objects: Callable[[str, dict[str, bytes]], Any], bucket: str
) -> None:
    put_objects(bucket, {"data/a": b"a", "data/b": b"b"})
    listed = run_cli("s3-manifest", f"s3://{bucket}/data/", "-q")
    checked = run_cli("s3-check", f"s3://{bucket}/backup/", "-q", input=listed.stdout)
    assert checked.returncode == 1  # both missing from the backup
    wrong = run_cli(
        "s3-repair",
        f"s3://{bucket}/backup/",
        "--from",
        f"s3://{bucket}/",
        "-q",
        input=checked.stdout,
    )
    assert wrong.stderr.decode().splitlines() == [
        f"s3-repair: --from s3://{bucket}/ is not the location the manifest listed "
        f"(s3://{bucket}/data/); keys keep their part after TARGET's prefix, so each object "
        f"is looked for under s3://{bucket}/",
        f"s3-repair: hint: pass --from s3://{bucket}/data/ if the objects are there",
    ]
    right = run_cli(
        "s3-repair",
        f"s3://{bucket}/backup/",
        "--from",
        f"s3://{bucket}/data/",
        "-q",
        input=checked.stdout,
    )
    assert right.returncode == 0 and right.stderr == b""


def test_a_replayed_repair_says_why_it_skipped(
    run_cli: RunCli, put_objects: Callable[[str, dict[str, bytes]], Any], bucket: str
) -> None:
    put_objects(bucket, {"data/a": b"a"})
    listed = run_cli("s3-manifest", f"s3://{bucket}/data/", "-q")
    checked = run_cli("s3-check", f"s3://{bucket}/backup/", "-q", input=listed.stdout)
    repair = ["s3-repair", f"s3://{bucket}/backup/", "--from", f"s3://{bucket}/data/", "-q"]
    assert run_cli(*repair, input=checked.stdout).returncode == 0
    replayed = run_cli(*repair, input=checked.stdout)
    (record,) = [r for r in parse(replayed.stdout) if r["type"] == "repair"]
    assert (record["status"], record["action"], record["error"]) == (
        "skipped",
        "none",
        "the target already matches",
    )
    assert replayed.returncode == 0
    assert replayed.stderr == (
        b"s3-repair: 1 skipped because the target already matches (nothing copied)\n"
    )


def test_the_readme_delete_pipeline_runs_as_written(
    cli_env: dict[str, str],
    put_objects: Callable[[str, dict[str, bytes]], Any],
    run_cli: RunCli,
    bucket: str,
    tmp_path: Path,
) -> None:
    """README's `s3-check … --status extra | s3-delete … --dry-run`, run by a shell with
    only the bucket and the manifest's path changed."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    (line,) = {text.strip() for text in readme.splitlines() if "--status extra | s3-delete" in text}
    put_objects(bucket, {"data/a": b"a", "backup/a": b"a", "backup/stray": b"s"})
    manifest = tmp_path / "src.ndjson"
    assert run_cli("s3-manifest", f"s3://{bucket}/data/", "-o", manifest, "-q").returncode == 0
    command = line.replace("s3://dst/", f"s3://{bucket}/").replace("src.ndjson", str(manifest))
    env = {**cli_env, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], capture_output=True, env=env, timeout=60
    )
    # s3-check exits 1 (an extra), s3-delete 0: the pipeline's status is 1, not 2.
    assert result.returncode == 1, result.stderr
    deletes = [r for r in parse(result.stdout) if r["type"] == "delete"]
    assert [(r["key"], r["status"]) for r in deletes] == [("backup/stray", "dry_run")]
