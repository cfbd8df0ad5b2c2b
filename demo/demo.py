"""s3deep demo: a local S3 server, sample data, and the stages at work.

Run with `make demo`. Everything happens against moto's S3 server on 127.0.0.1
with dummy credentials, so no AWS account is used. Outputs land in demo/out/.
Each step is a function listed in STEPS and run in order inside `start_server()`:
seed a source bucket, list it with s3-manifest, seed a damaged replica, check it
with s3-check, repair it with s3-repair, delete its extras with s3-delete, and
check it again.

S3DEEP_DEMO_SIZE=small runs the same steps on about a tenth of the data, and
S3DEEP_DEMO_OUT=DIR writes the outputs there instead: tests/e2e/test_demo.py runs the
demo so, so that it cannot drift from the stages.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Relative to ROOT, the working directory of every command (an absolute path stays so).
OUT = Path(os.environ.get("S3DEEP_DEMO_OUT", "demo/out"))
# How many of each kind of sample object: log days, images per category, daily backups.
SIZES = {"full": (20, 140, 30), "small": (2, 20, 3)}
LOG_DAYS, IMAGES_PER_CATEGORY, BACKUP_DAYS = SIZES[os.environ.get("S3DEEP_DEMO_SIZE", "full")]
BIN = Path(sys.executable).parent
SOURCE_BUCKET = "demo-source"
REPLICA_BUCKET = "demo-replica"
REPLICATED = "images/"  # the part of the source that the replica holds
SEED = 20261122
SEED_WORKERS = 8  # moto's server is the bottleneck; more threads only contend for the GIL
# Keys that must survive every stage unchanged: spaces, +, %, &, <, unicode, no prefix.
ODD_KEYS = ["reports/Q4 summary.pdf", "reports/a+b=c.csv", "reports/café/menü.txt"]
ODD_KEYS += ["reports/日本語/説明.md", "reports/100% done & <ok>.txt", "README"]

_section_numbers = itertools.count(1)


class DemoError(Exception):
    """A step failed; main() prints it and exits non-zero."""


def section(title: str) -> None:
    print(f"\n=== {next(_section_numbers)}. {title} ===", flush=True)


def run(args: list[str], *, expect: int = 0) -> None:
    """Runs one of our commands with stdout and stderr on the terminal; checks its exit code."""
    print("$ " + " ".join(repr(a) if " " in a else a for a in args), flush=True)
    code = subprocess.call([str(BIN / args[0]), *args[1:]])
    if code != expect:
        raise DemoError(f"{args[0]} exited {code}, expected {expect}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def start_server() -> Iterator[str]:
    """Starts moto's S3 server on a free local port; yields its URL; stops it by PID."""
    section("Start a local S3 server (moto)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    os.environ.update(
        AWS_ACCESS_KEY_ID="demo-access-key",
        AWS_SECRET_ACCESS_KEY="demo-secret-key",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=url,
        AWS_CONFIG_FILE=os.devnull,  # ignore the user's ~/.aws profiles
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        os.environ.pop(name, None)
    log_path = OUT / "moto-server.log"
    with open(log_path, "wb") as log:
        # A session of its own: Ctrl-C reaches the demo only, which then stops the server.
        server = subprocess.Popen(
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_up(url, server, log_path)
        print(f"moto server pid {server.pid} at {url} (request log: {log_path})")
        print("dummy credentials in the environment; AWS_ENDPOINT_URL points at the server")
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        print(f"\nstopped the moto server (pid {server.pid})", flush=True)


def wait_until_up(
    url: str, server: subprocess.Popen[bytes], log: Path, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise DemoError(f"the moto server exited {server.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # any HTTP answer means it is up
        except OSError:
            time.sleep(0.1)
    raise DemoError(f"the moto server did not answer at {url} within {timeout:.0f}s; see {log}")


def sample_objects() -> Iterator[tuple[str, bytes]]:
    """About 3000 deterministic (key, body) pairs in a realistic layout (300 if small)."""
    rng = random.Random(SEED)
    for day in range(1, LOG_DAYS + 1):
        for host in ["api-01", "api-02", "web-01", "web-02", "worker-07"]:
            for part in range(rng.randint(18, 26)):
                key = f"logs/2026/11/{day:02d}/{host}/part-{part:05d}.json.gz"
                yield key, rng.randbytes(rng.randint(200, 4000))
    for category in ["cats", "dogs", "landscapes", "portraits", "products"]:
        for image in rng.sample(range(100000, 999999), IMAGES_PER_CATEGORY):
            yield f"images/{category}/{image}.jpg", rng.randbytes(rng.randint(1000, 8000))
    for day in range(1, BACKUP_DAYS + 1):
        yield f"backups/db/2026-11-{day:02d}.sql.gz", rng.randbytes(rng.randint(2000, 8000))
    for key in ODD_KEYS:
        yield key, rng.randbytes(rng.randint(3, 300))


def s3_client(workers: int) -> Any:
    import boto3
    from botocore.config import Config

    # No CRC32 on every upload (boto3's default): CPU we would rather give the server.
    config = Config(max_pool_connections=workers, request_checksum_calculation="when_required")
    return boto3.client("s3", config=config)


def put_all(client: Any, bucket: str, objects: list[tuple[str, bytes]]) -> float:
    """Uploads (key, body) pairs in parallel; returns the seconds it took."""

    def put(item: tuple[str, bytes]) -> None:
        client.put_object(Bucket=bucket, Key=item[0], Body=item[1])

    started = time.monotonic()
    pool = ThreadPoolExecutor(SEED_WORKERS)
    try:
        for _ in pool.map(put, objects):
            pass
    finally:
        pool.shutdown(cancel_futures=True)  # on Ctrl-C, do not wait for the queued uploads
    return time.monotonic() - started


def seed_source() -> None:
    section(f"Seed s3://{SOURCE_BUCKET}/ with sample objects")
    objects = list(sample_objects())
    client = s3_client(SEED_WORKERS)
    client.create_bucket(Bucket=SOURCE_BUCKET)
    elapsed = put_all(client, SOURCE_BUCKET, objects)
    total = sum(len(body) for _, body in objects)
    print(
        f"uploaded {len(objects)} objects ({total / 1e6:.1f} MB) with {SEED_WORKERS} threads "
        f"in {elapsed:.1f}s ({len(objects) / elapsed:.0f} PUT/s), for example:"
    )
    shown: set[str] = set()
    for key, _ in objects:
        layout = key.split("/", 1)[0]
        if layout not in shown or key in ODD_KEYS:
            shown.add(layout)
            print(f"  {key}")


def run_manifest() -> None:
    section("List the bucket with s3-manifest (progress and summary line on stderr)")
    output, checkpoint = OUT / "source.ndjson", OUT / "source.ck"
    args = ["s3-manifest", f"s3://{SOURCE_BUCKET}/", "-o", str(output)]
    args += ["--checkpoint", str(checkpoint)]
    run([*args, "--restart"])
    digest = hashlib.sha256(output.read_bytes()).hexdigest()
    print("\nThe same command again, without --restart: its checkpoint says the run is")
    print("complete, so it does nothing (a cron line can rerun it safely):")
    run(args)
    unchanged = hashlib.sha256(output.read_bytes()).hexdigest() == digest
    print(f"output file unchanged: {unchanged}")
    if not unchanged:
        raise DemoError(f"rerunning a complete checkpoint changed {output}")


def show_manifest() -> None:
    path = OUT / "source.ndjson"
    section(f"What is in {path}")
    lines = path.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    print("the first 3 records (one JSON object per line; a header comes first):")
    for line in lines[:3]:
        print(f"  {line}")
    print(f"... {len(lines) - 4} more object records, and the summary record last:")
    print(f"  {lines[-1]}")
    if records[-1].get("type") != "summary" or not records[-1].get("complete"):
        raise DemoError(f"{path} does not end with a complete summary")
    counts: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    for record in records:
        if record["type"] == "object":
            top = record["key"].split("/", 1)[0] + ("/" if "/" in record["key"] else "")
            counts[top] += 1
            sizes[top] += record["size"]
    print(f"\n  {'prefix':<12} {'objects':>8} {'bytes':>11}")
    for top in sorted(counts):
        print(f"  {top:<12} {counts[top]:>8} {sizes[top]:>11,}")
    print(f"  {'total':<12} {counts.total():>8} {sizes.total():>11,}")


def show_streaming() -> None:
    section("Streaming: records flow out as pages arrive; listing stops when the reader does")
    args = ["s3-manifest", f"s3://{SOURCE_BUCKET}/logs/"]
    print(f"$ {' '.join(args)} | head -2", flush=True)
    started = time.monotonic()
    lister = subprocess.Popen([str(BIN / args[0]), *args[1:]], stdout=subprocess.PIPE)
    assert lister.stdout is not None
    head = subprocess.Popen(["head", "-2"], stdin=lister.stdout)
    lister.stdout.close()  # only head holds the pipe now: when it exits, s3-manifest sees EPIPE
    head_code, lister_code = head.wait(), lister.wait()
    print(
        f"(head exited {head_code}; s3-manifest exited {lister_code} after "
        f"{time.monotonic() - started:.1f}s: 141 means it stopped at the closed pipe)"
    )
    if head_code != 0 or lister_code not in (0, 141):
        raise DemoError(f"the pipeline failed: head {head_code}, s3-manifest {lister_code}")


def damaged_replica() -> tuple[list[tuple[str, bytes]], dict[str, str]]:
    """The replica's objects: the source's images with a few missing, changed, added."""
    source = [(key, body) for key, body in sample_objects() if key.startswith(REPLICATED)]
    damage: dict[str, str] = {}
    replica = []
    for index, (key, body) in enumerate(source):
        if index % 140 == 7:
            damage[key] = "missing"
            continue
        if index % 140 == 11:
            damage[key] = "size_mismatch"
            body = body[:-1]
        elif index % 140 == 13:
            damage[key] = "etag_mismatch"
            body = bytes([body[0] ^ 1]) + body[1:]
        replica.append((key, body))
    for name in ("stray.tmp", "cats/.DS_Store", "zz-old/thumb.jpg"):
        replica.append((REPLICATED + name, b"left over"))
        damage[REPLICATED + name] = "extra"
    return replica, damage


def seed_replica() -> None:
    section(f"Make a damaged replica of s3://{SOURCE_BUCKET}/{REPLICATED}")
    replica, damage = damaged_replica()
    client = s3_client(SEED_WORKERS)
    client.create_bucket(Bucket=REPLICA_BUCKET)
    elapsed = put_all(client, REPLICA_BUCKET, replica)
    print(
        f"uploaded {len(replica)} objects to s3://{REPLICA_BUCKET}/{REPLICATED} in {elapsed:.1f}s"
    )
    print(f"damage done on purpose: {dict(sorted(Counter(damage.values()).items()))}")
    (OUT / "damage.json").write_text(json.dumps(damage, indent=1, sort_keys=True))


def run_check() -> None:
    section("Verify the replica against the source with s3-check (list mode)")
    output = OUT / "check.ndjson"
    manifest = [str(BIN / "s3-manifest"), f"s3://{SOURCE_BUCKET}/{REPLICATED}", "--quiet"]
    check = ["s3-check", f"s3://{REPLICA_BUCKET}/{REPLICATED}", "-o", str(output)]
    print(f"$ s3-manifest s3://{SOURCE_BUCKET}/{REPLICATED} | {' '.join(check)}", flush=True)
    lister = subprocess.Popen(manifest, stdout=subprocess.PIPE)
    code = subprocess.call([str(BIN / check[0]), *check[1:]], stdin=lister.stdout)
    lister.wait()
    print(f"(s3-check exited {code}: 1 means it completed and found objects that are not ok)")
    found = {}
    for line in output.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["type"] == "check" and record["status"] != "ok":
            found[record["key"]] = record["status"]
            detail = f"  ({record['detail']})" if record["detail"] else ""
            print(f"  {record['status']:<14} {record['key']}{detail}")
    expected = json.loads((OUT / "damage.json").read_text())
    if code != 1 or found != expected:
        raise DemoError(f"s3-check found {found}, expected {expected} (exit {code})")
    print("every damaged object was found, and nothing else")


def run_repair() -> None:
    section("Repair the replica from the source with s3-repair (server-side copies)")
    args = ["s3-repair", f"s3://{REPLICA_BUCKET}/{REPLICATED}"]
    args += ["--from", f"s3://{SOURCE_BUCKET}/{REPLICATED}", "-i", str(OUT / "check.ndjson")]
    args += ["-o", str(OUT / "repair.ndjson"), "--checkpoint", str(OUT / "repair.ck"), "--restart"]
    run(args)
    repaired = {}
    for line in (OUT / "repair.ndjson").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["type"] == "repair" and record["status"] != "skipped":
            repaired[record["key"]] = record["status"]
            print(f"  {record['status']:<9} {record['action']:<6} {record['key']}")
    expected = json.loads((OUT / "damage.json").read_text())
    broken = {key for key, status in expected.items() if status != "extra"}
    if set(repaired) != broken or set(repaired.values()) != {"repaired"}:
        raise DemoError(f"s3-repair repaired {repaired}, expected {sorted(broken)}")


def run_recheck() -> None:
    section("Check the replica again: everything is ok now")
    manifest = [str(BIN / "s3-manifest"), f"s3://{SOURCE_BUCKET}/{REPLICATED}", "--quiet"]
    check = ["s3-check", f"s3://{REPLICA_BUCKET}/{REPLICATED}", "-o", str(OUT / "recheck.ndjson")]
    print(f"$ s3-manifest s3://{SOURCE_BUCKET}/{REPLICATED} | {' '.join(check)}", flush=True)
    lister = subprocess.Popen(manifest, stdout=subprocess.PIPE)
    code = subprocess.call([str(BIN / check[0]), *check[1:]], stdin=lister.stdout)
    lister.wait()
    if code != 0:
        raise DemoError(f"the replica is still not whole: s3-check exited {code}")
    print("s3-check exited 0: the replica matches the source")


def run_delete() -> None:
    section("Delete the extras that s3-check found, with s3-delete (dry run first)")
    scope = f"s3://{REPLICA_BUCKET}/{REPLICATED}"
    args = ["s3-delete", scope, "-i", str(OUT / "check.ndjson"), "--status", "extra"]
    run([*args, "--dry-run", "-o", str(OUT / "delete-dry-run.ndjson")])
    run(
        [
            *args,
            "-o",
            str(OUT / "delete.ndjson"),
            "--checkpoint",
            str(OUT / "delete.ck"),
            "--restart",
        ]
    )
    deleted = [
        json.loads(line)["key"]
        for line in (OUT / "delete.ndjson").read_text(encoding="utf-8").splitlines()
        if json.loads(line).get("status") == "deleted"
    ]
    print("deleted: " + ", ".join(deleted))
    client = s3_client(1)
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=REPLICA_BUCKET, Prefix=REPLICATED
    )
    left = {item["Key"] for page in pages for item in page.get("Contents", [])}
    expected = json.loads((OUT / "damage.json").read_text())
    extras = {key for key, status in expected.items() if status == "extra"}
    if set(deleted) != extras or left & extras:
        raise DemoError(f"s3-delete deleted {deleted}, expected {sorted(extras)}")
    print(f"{len(left)} objects remain in {scope}; no extra is left, nothing else was touched")


STEPS: list[Callable[[], None]] = [
    seed_source,
    run_manifest,
    show_manifest,
    show_streaming,
    seed_replica,
    run_check,
    run_repair,
    run_delete,
    run_recheck,
]


def on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(143)  # unwinds through start_server's finally, which stops the server


def main() -> int:
    os.chdir(ROOT)
    OUT.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, on_sigterm)
    started = time.monotonic()
    try:
        with start_server():
            for step in STEPS:
                step()
    except DemoError as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ndemo interrupted", file=sys.stderr)
        return 130
    print(f"\nDone in {time.monotonic() - started:.0f}s. The outputs are in {OUT}/:")
    print(f"  {OUT}/source.ndjson    the manifest of s3://{SOURCE_BUCKET}/")
    print(f"  {OUT}/source.ck        its checkpoint (complete)")
    print(f"  {OUT}/check.ndjson     s3-check's verdict on s3://{REPLICA_BUCKET}/{REPLICATED}")
    print(f"  {OUT}/repair.ndjson    s3-repair's record of what it copied")
    print(f"  {OUT}/delete.ndjson    s3-delete's record of what it deleted")
    print(f"  {OUT}/recheck.ndjson   the final check: all ok")
    print(f"  {OUT}/moto-server.log  the local S3 server's request log")
    return 0


if __name__ == "__main__":
    sys.exit(main())
