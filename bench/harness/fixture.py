"""A seeded, served and warmed bucket in a scratch directory: what every scenario starts from."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness.server import RcloneServer, Seeded, client_env, layout_keys, seed_bucket
from bench.harness.settings import BUCKET, WORK_DIR, Settings, s5cmd_binary, venv_tool


@dataclass
class Bucket:
    """The served bucket of one scenario, and where its tools may write."""

    server: RcloneServer
    name: str
    keys: list[str]  # in S3 (UTF-8 byte) order
    seeded: Seeded
    work: Path
    env: dict[str, str] = field(default_factory=client_env)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    def path(self, name: str) -> Path:
        """A file in this scenario's scratch directory."""
        return self.work / name


def log(message: str) -> None:
    print(f"bench: {message}", flush=True)


@contextmanager
def served_bucket(settings: Settings, scenario: str) -> Iterator[Bucket]:
    """Seeds `settings.objects` objects, starts rclone on them, warms its directory cache,
    yields the bucket, and always stops the server (and removes the scratch directory
    unless `settings.keep_work`)."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{scenario}-{settings.objects}-", dir=WORK_DIR))
    try:
        root = work / "root"
        keys = layout_keys(settings.objects)
        log(f"seeding {len(keys)} objects into {root / BUCKET}")
        started = time.perf_counter()
        seeded = seed_bucket(root, BUCKET, keys)
        seed_s = time.perf_counter() - started
        server = RcloneServer(
            venv_tool("rclone"), root, work / "rclone.log",
            etag_hash=settings.etag_hash, latency_ms=settings.latency_ms,
        )  # fmt: skip
        with server:
            bucket = Bucket(server, BUCKET, keys, seeded, work)
            bucket.timings["seed_s"] = seed_s
            log(
                f"rclone serve s3 (pid {server.pid}) on {server.direct_endpoint}; warming its cache"
            )
            bucket.timings["warm_s"] = warm(bucket)
            yield bucket
    except BaseException:
        keep = True  # leave the evidence of a failure
        raise
    else:
        keep = settings.keep_work
    finally:
        if keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def warm(bucket: Bucket) -> float:
    """Lists the whole bucket once, so that measured runs find rclone's directory cache
    filled; checks that the server shows every seeded object."""
    started = time.perf_counter()
    listing = bucket.path("warm.txt")
    argv = [s5cmd_binary(), "--endpoint-url", bucket.server.direct_endpoint, "ls",
            f"s3://{bucket.name}/*"]  # fmt: skip
    with open(listing, "wb") as out:
        done = subprocess.run(argv, stdout=out, stderr=subprocess.PIPE, env=bucket.env, check=False)
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip()
        raise SystemExit(f"bench: warming the server's cache failed ({' '.join(argv)}): {why}")
    with open(listing, "rb") as lines:
        listed = sum(1 for _ in lines)
    if listed != len(bucket.keys):
        raise SystemExit(f"bench: the server lists {listed} objects, {len(bucket.keys)} seeded")
    return time.perf_counter() - started
