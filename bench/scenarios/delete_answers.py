"""What reading DeleteObjects' verbose answer costs: Quiet=true against Quiet=false.

s3-delete asks for the verbose answer so that a `deleted` record names a key the
server reported deleted. This measures one DeleteObjects of 1000 keys each way
against `rclone serve s3` (moto ignores Quiet and always answers verbosely): wall
time, and client CPU as the calling thread's thread_time (botocore builds the
request and parses the answer in that thread) including lib.pipelines.delete's reading of
the answer. Each round seeds two buckets of 1000 files and starts a fresh server
(rclone does not see files added under a running server); the order alternates.

    .venv/bin/python -m bench.scenarios.delete_answers [ROUNDS]
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import botocore.config

from bench.harness.server import RcloneServer
from bench.harness.settings import ACCESS_KEY, REGION, SECRET_KEY, venv_tool
from lib.stores.s3delete import _answers

KEYS = [f"dir/sub/object-{n:06d}.dat" for n in range(1000)]


def seed(root: Path, bucket: str) -> None:
    for key in KEYS:
        path = root / bucket / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def delete_once(client: Any, bucket: str, quiet: bool) -> tuple[float, float]:
    """(wall s, client CPU s) of one DeleteObjects of every key, answer read."""
    objects = [{"Key": key} for key in KEYS]
    wall, cpu = time.perf_counter(), time.thread_time()
    answer = client.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": quiet})
    reported = _answers(answer)
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    if answer.get("Errors") or len(reported) != (0 if quiet else 2 * len(KEYS)):
        raise RuntimeError(f"unexpected answer: {len(reported)} entries, {answer.get('Errors')}")
    return wall, cpu


def main(rounds: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="s3deep-delete-answers-"))
    timings: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    try:
        for number in range(rounds):
            root = work / "root"
            for bucket in ("quiet", "verbose"):
                seed(root, bucket)
            with RcloneServer(venv_tool("rclone"), root, work / "rclone.log") as server:
                client = boto3.client(
                    "s3",
                    endpoint_url=server.endpoint,
                    region_name=REGION,
                    aws_access_key_id=ACCESS_KEY,
                    aws_secret_access_key=SECRET_KEY,
                    config=botocore.config.Config(retries={"max_attempts": 1}),
                )
                client.list_objects_v2(Bucket="quiet", MaxKeys=1)  # connect, warm the cache
                for quiet in (True, False) if number % 2 else (False, True):
                    timings[quiet].append(
                        delete_once(client, "quiet" if quiet else "verbose", quiet)
                    )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for quiet, runs in timings.items():
        walls, cpus = [run[0] * 1000 for run in runs], [run[1] * 1000 for run in runs]
        wall, cpu = statistics.median(walls), statistics.median(cpus)
        print(
            f"Quiet={str(quiet).lower()}: per 1000 keys, wall median {wall:.1f} ms "
            f"(min {min(walls):.1f}), client CPU median {cpu:.1f} ms (min {min(cpus):.1f}); "
            f"{len(runs)} rounds"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
