"""What the scenarios beyond listing share: a scratch directory, a server that can be
restarted over it, clients' environments (rclone's remote included), listings for
verification, files cloned by hard links, and the report's tables and boilerplate."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from bench.harness.fixture import log
from bench.harness.measure import Invocation
from bench.harness.server import RcloneServer, client_env
from bench.harness.settings import (
    ACCESS_KEY,
    PROJECT_DIR,
    REGION,
    SECRET_KEY,
    WORK_DIR,
    Settings,
    s5cmd_binary,
    venv_tool,
)

REMOTE = "s3bench"  # the rclone remote (configured by environment) for the served endpoint
REMOTE2 = "s3bench2"  # the same server as http://localhost:PORT


def other_name(endpoint: str) -> str:
    """The same endpoint by another name, which clients take for another server."""
    return endpoint.replace("://127.0.0.1:", "://localhost:")


class WrongResult(SystemExit):
    """A command did something other than what it was asked: its numbers are void."""


@contextmanager
def scratch(settings: Settings, scenario: str) -> Iterator[Path]:
    """A directory under bench/work/, removed afterwards unless --keep-work or a failure."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{scenario}-", dir=WORK_DIR))
    try:
        yield work
    except BaseException:
        log(f"kept {work}")  # the evidence of a failure
        raise
    if settings.keep_work:
        log(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


def new_server(settings: Settings, root: Path, work: Path) -> RcloneServer:
    root.mkdir(parents=True, exist_ok=True)
    return RcloneServer(venv_tool("rclone"), root, work / "rclone.log",
                        etag_hash=settings.etag_hash, latency_ms=settings.latency_ms)  # fmt: skip


def tools_env(endpoint: str, work: Path) -> dict[str, str]:
    """client_env, plus an rclone remote REMOTE: that points at `endpoint`, and REMOTE2: at
    the same server by another name (rclone copies between them by streaming)."""
    env = client_env()
    env.update(rclone_remote(REMOTE, endpoint))
    env.update(rclone_remote(REMOTE2, other_name(endpoint)))
    (work / "client-rclone.conf").touch()
    return env


def rclone_remote(remote: str, url: str) -> dict[str, str]:
    """The environment that defines rclone remote `remote:` as the S3 server at `url`."""
    prefix = f"RCLONE_CONFIG_{remote.upper()}_"
    return {
        prefix + "TYPE": "s3", prefix + "PROVIDER": "Rclone", prefix + "ENDPOINT": url,
        prefix + "ACCESS_KEY_ID": ACCESS_KEY, prefix + "SECRET_ACCESS_KEY": SECRET_KEY,
        prefix + "REGION": REGION,
    }  # fmt: skip


def rclone_argv(work: Path, *args: str) -> list[str]:
    """An rclone client command with an empty config file (the remote is in the env)."""
    return [venv_tool("rclone"), "--config", str(work / "client-rclone.conf"), *args]


def s5cmd_argv(endpoint: str, *args: str) -> list[str]:
    return [s5cmd_binary(), "--endpoint-url", endpoint, *args]


def invocation(
    work: Path, name: str, argv: list[str], env: dict[str, str], ok_codes: tuple[int, ...] = (0,)
) -> Invocation:
    """`argv` with stdout to work/name.stdout and stderr to work/name.stderr."""
    return Invocation(
        argv, work / f"{name}.stdout", work / f"{name}.stderr", env, PROJECT_DIR, ok_codes
    )


def shell(command: str) -> list[str]:
    """A pipeline, measured as one command: sh waits for every stage, so the rusage covers
    them all (CPU summed; peak RSS of the largest process)."""
    return ["/bin/sh", "-c", f"set -e; {command}"]


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY, region_name=REGION,
        config=Config(retries={"max_attempts": 2}),
    )  # fmt: skip


def list_bucket(endpoint: str, bucket: str) -> list[tuple[str, int, str]]:
    """(key, size, etag without quotes) of every object, in key order, listed by boto3."""
    client = s3_client(endpoint)
    entries = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", ()):
            entries.append((item["Key"], item["Size"], item["ETag"].strip('"')))
    return entries


def files_under(directory: Path) -> int:
    """Regular files left below `directory` on disk (what the server serves)."""
    return sum(len(files) for _, _, files in os.walk(directory))


def clone_tree(source: Path, target: Path) -> float:
    """A copy of `source` made of hard links (seconds for 100k files); returns seconds.
    Deleting a link leaves the template intact; never write into a linked file."""
    started = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-al", str(source), str(target)], check=True)
    return time.perf_counter() - started


def warm_listing(endpoint: str, bucket: str, env: dict[str, str], work: Path, count: int) -> float:
    """Lists the bucket once with s5cmd so that rclone's directory cache is filled; checks
    that the server shows `count` objects; returns seconds."""
    started = time.perf_counter()
    argv = s5cmd_argv(endpoint, "ls", f"s3://{bucket}/*")
    with open(work / "warm.txt", "wb") as out:
        done = subprocess.run(argv, stdout=out, stderr=subprocess.PIPE, env=env, check=False)
    with open(work / "warm.txt", "rb") as lines:
        listed = sum(1 for _ in lines)
    if listed != count:
        why = done.stderr.decode(errors="replace").strip()
        raise WrongResult(f"bench: the server lists {listed} objects in {bucket}, {count} seeded;"
                          f" {why}")  # fmt: skip
    return time.perf_counter() - started


def read_output(path: Path, stage: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The data records and the summary of a stage's NDJSON output; raises WrongResult
    unless it starts with that stage's header and ends with a complete summary."""
    with open(path, "rb") as lines:
        records = [json.loads(line) for line in lines]
    if not records or records[0].get("type") != "header" or records[0].get("stage") != stage:
        raise WrongResult(f"bench: {stage} output does not start with its header: {path}")
    summary = records[-1]
    if summary.get("type") != "summary" or not summary.get("complete"):
        raise WrongResult(f"bench: {stage} output has no complete summary: {summary} ({path})")
    return records[1:-1], summary


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise WrongResult(f"bench: {message}")


def make_manifest(endpoint: str, bucket: str, out: Path, env: dict[str, str]) -> list[str]:
    """`s3-manifest s3://bucket/ -o out` (untimed); returns the keys it listed."""
    argv = [venv_tool("s3-manifest"), f"s3://{bucket}/", "-o", str(out), "-q",
            "--endpoint-url", endpoint]  # fmt: skip
    subprocess.run(argv, env=env, check=True)
    objects, _ = read_output(out, "s3-manifest")
    return [o["key"] for o in objects]


def seed_large(directory: Path, count: int, size: int) -> list[tuple[str, int, str]]:
    """`count` files of `size` random bytes named blob-NNN.bin; returns (key, size, md5)."""
    directory.mkdir(parents=True, exist_ok=True)
    entries = []
    for index in range(count):
        key = f"blob-{index:03d}.bin"
        digest = hashlib.md5()
        with open(directory / key, "wb") as out:
            left = size
            while left:
                chunk = os.urandom(min(left, 8 << 20))
                digest.update(chunk)
                out.write(chunk)
                left -= len(chunk)
        entries.append((key, size, digest.hexdigest()))
    return entries
