"""Client CPU per request of the per-object calls: botocore against the request engine.

Starts `rclone serve s3` (bench.harness.server) over 2000 small objects (1-4 KB) and sends
each of HEAD, GET (body read) and CopyObject (to another bucket) once per object,
16 in flight, through two paths in one process:

- botocore: s3deep's botocore client (lib.s3.make_client) on 16 threads;
- engine: lib.stores.crt.Engine, 16 in flight on awscrt's event-loop threads.

Then 4 objects of 64 MiB are read at once and hashed, as read mode does: botocore's
streaming body against the engine's reader (EngineRequests.get: parallel ranged GETs
in order, the first through the engine, the rest of a large object through botocore).

Client CPU is the process's CPU time (every thread, awscrt's included) over the
batch, per request; the server runs in its own process and is not counted. Both
paths are warmed up first (connections, addressing, botocore's model), so start-up
is left out. Rounds alternate the order of the paths; medians are printed.

    .venv/bin/python -m bench.scenarios.engine_requests [ROUNDS] [OBJECTS]
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.harness.server import RcloneServer, client_env
from bench.harness.settings import venv_tool
from lib.stores.crt.addressing import Source
from lib.stores.crt.engine import Engine
from lib.stores.crt.requests import EngineRequests
from lib.stores.s3 import S3Config, make_client

IN_FLIGHT = 16
LARGE, LARGE_MB = 4, 64  # large objects, read as files (Engine.open: parallel ranges)
SOURCE, TARGET = "src", "dst"
Batch = Callable[[list[str], str], None]  # (keys, a tag for target names)


def seed(root: Path, count: int) -> list[str]:
    """`count` objects of 1-4 KB in SOURCE; an empty TARGET. Keys are flat: rclone answers
    500 when concurrent copies create the same new directory."""
    rng = random.Random(17)
    keys = [f"object-{n:05d}.log" for n in range(count)]
    (root / SOURCE).mkdir(parents=True)
    (root / TARGET).mkdir()
    for key in keys:
        (root / SOURCE / key).write_bytes(rng.randbytes(rng.randint(1024, 4096)))
    return keys


def botocore_batches(client: Any) -> dict[str, Batch]:
    pool = concurrent.futures.ThreadPoolExecutor(IN_FLIGHT)

    def run(call: Callable[[str], Any], keys: list[str]) -> None:
        for _ in pool.map(call, keys):
            pass

    def get(key: str) -> bytes:
        body: bytes = client.get_object(Bucket=SOURCE, Key=key)["Body"].read()
        return body

    return {
        "HEAD": lambda keys, tag: run(lambda k: client.head_object(Bucket=SOURCE, Key=k), keys),
        "GET": lambda keys, tag: run(get, keys),
        "copy": lambda keys, tag: run(
            lambda k: client.copy_object(
                Bucket=TARGET, Key=f"{tag}-{k}", CopySource={"Bucket": SOURCE, "Key": k}
            ),
            keys,
        ),
    }


def engine_batches(engine: Engine) -> dict[str, Batch]:
    def run(start: Callable[[str], concurrent.futures.Future[Any]], keys: list[str]) -> None:
        for future in [start(key) for key in keys]:
            future.result()

    def get(key: str) -> concurrent.futures.Future[Any]:
        return engine.get_async(SOURCE, key)

    return {
        "HEAD": lambda keys, tag: run(lambda k: engine.head_async(SOURCE, k), keys),
        "GET": lambda keys, tag: run(get, keys),
        "copy": lambda keys, tag: run(
            lambda k: engine.copy_async(TARGET, f"{tag}-{k}", Source(SOURCE, k)), keys
        ),
    }


def seed_large(root: Path, count: int) -> list[str]:
    keys = [f"large-{n}.bin" for n in range(count)]
    for key in keys:
        (root / SOURCE / key).write_bytes(os.urandom(LARGE_MB * 1024 * 1024))
    return keys


def read_large(open_object: Callable[[str], Any], keys: list[str]) -> None:
    """Reads every object at once, each on its own thread, hashing it as read mode does."""

    def digest(key: str) -> str:
        md5 = hashlib.md5(usedforsecurity=False)
        with open_object(key) as body:
            for chunk in iter(lambda: body.read(1024 * 1024), b""):
                md5.update(chunk)
        return md5.hexdigest()

    with concurrent.futures.ThreadPoolExecutor(len(keys)) as pool:
        list(pool.map(digest, keys))


def measure(batch: Batch, keys: list[str], tag: str) -> tuple[float, float]:
    """(client CPU µs, wall µs) per request of one batch."""
    cpu, wall = time.process_time(), time.perf_counter()
    batch(keys, tag)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu / len(keys) * 1e6, wall / len(keys) * 1e6


def main(rounds: int, count: int) -> None:
    os.environ.update(client_env())
    work = Path(tempfile.mkdtemp(prefix="s3deep-engine-requests-"))
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    streamed: dict[str, list[tuple[float, float]]] = {}  # path -> (MB/s, CPU ms per MB)
    try:
        keys = seed(work / "root", count)
        large = seed_large(work / "root", LARGE)
        with RcloneServer(venv_tool("rclone"), work / "root", work / "rclone.log") as server:
            config = S3Config(endpoint_url=server.endpoint, max_connections=IN_FLIGHT)
            engine = Engine.for_config(config, concurrency=IN_FLIGHT)
            paths = {
                "botocore": botocore_batches(make_client(config)),
                "engine": engine_batches(engine),
            }
            for name, batches in paths.items():  # warm up: connections, addressing, models
                for batch in batches.values():
                    batch(keys[: IN_FLIGHT * 2], f"warm-{name}")
            client = make_client(config)
            objects = EngineRequests(lambda: engine)
            readers: dict[str, Callable[[str], Any]] = {
                "botocore": lambda k: client.get_object(Bucket=SOURCE, Key=k)["Body"],
                "engine": lambda k: objects.get(client, SOURCE, k),
            }
            for number in range(rounds):
                order = list(paths.items()) if number % 2 == 0 else list(paths.items())[::-1]
                for name, batches in order:
                    for operation, batch in batches.items():
                        figures = measure(batch, keys, f"{name}{number}")
                        results.setdefault((name, operation), []).append(figures)
                    cpu, wall = time.process_time(), time.perf_counter()
                    read_large(readers[name], large)
                    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                    megabytes = len(large) * LARGE_MB
                    streamed.setdefault(name, []).append((megabytes / wall, cpu / megabytes * 1e3))
            engine.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{count} objects of 1-4 KB on rclone serve s3, {IN_FLIGHT} in flight, "
          f"medians of {rounds} rounds (µs per request)")  # fmt: skip
    print(f"{'path':<10} {'operation':<6} {'client CPU':>11} {'wall':>8}")
    for (name, operation), runs in results.items():
        cpu = statistics.median(run[0] for run in runs)
        wall = statistics.median(run[1] for run in runs)
        print(f"{name:<10} {operation:<6} {cpu:>11.0f} {wall:>8.0f}")
    for operation in ("HEAD", "GET", "copy"):
        ours = statistics.median(run[0] for run in results[("engine", operation)])
        theirs = statistics.median(run[0] for run in results[("botocore", operation)])
        print(f"{operation}: the engine uses {ours / theirs:.2f}x botocore's client CPU")
    print(f"{LARGE} objects of {LARGE_MB} MiB read at once and hashed (MD5), medians:")
    for name, runs in streamed.items():
        rate = statistics.median(run[0] for run in runs)
        cpu_ms = statistics.median(run[1] for run in runs)
        print(f"{name:<10} {rate:>7.0f} MB/s {cpu_ms:>6.1f} ms of client CPU per MB")


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 3,
        int(sys.argv[2]) if len(sys.argv) > 2 else 2000,
    )
