"""Plain helpers of the chaos tests (no fixtures): a `Job` per stage, the records its
input is made of, and the checks that a broken run lost nothing. The fixtures that
build on them are in tests/chaos/conftest.py.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import os
import random
import signal
import stat
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers import FAKE_SECRET
from inventory_report import Entry, build_report, write_report

Run = Callable[..., subprocess.CompletedProcess[bytes]]
Start = Callable[..., subprocess.Popen[bytes]]
Seed = Callable[[str, Mapping[str, bytes]], None]
Records = list[dict[str, Any]]

STAGES = ("s3-manifest", "s3-check", "s3-repair", "s3-delete")
# Short socket read timeout, so that a stalled response costs seconds, not a minute.
READ_TIMEOUT_S = "1.5"
STALL_S = 2.5
TIMING_FIELDS = ("started", "elapsed_s", "resumed", "ms", "attempts")

FIGURES: Counter[str] = Counter()
"""What the chaos tests survived, summed over the session (and over xdist workers)."""


def csv_rows(data: bytes) -> Records:
    """An s3-batch-csv .csv.gz output, one record per row."""
    return [{"row": row} for row in gzip.decompress(data).decode().splitlines()]


def strip_timing(records: Records) -> Records:
    """Records without the fields a resumed or retried run may change."""
    return [{k: v for k, v in record.items() if k not in TIMING_FIELDS} for record in records]


def parse(data: bytes) -> Records:
    assert not data or data.endswith(b"\n"), f"output ends mid-line: {data[-200:]!r}"
    return [json.loads(line) for line in data.splitlines()]


def committed_records(checkpoint: Path) -> int:
    """records_out of the last commit (0 if there is none yet)."""
    try:
        return int(json.loads(checkpoint.read_bytes()).get("records_out", 0))
    except (FileNotFoundError, ValueError):
        return 0


def wait_for_commit(process: subprocess.Popen[bytes], checkpoint: Path, records: int = 1) -> None:
    """Waits until the run has committed at least `records` records (or has ended)."""
    deadline = time.monotonic() + 60
    while committed_records(checkpoint) < records and process.poll() is None:
        assert time.monotonic() < deadline, f"no commit of {records} records in {checkpoint}"
        time.sleep(0.02)


def assert_private(directory: Path) -> None:
    """No file holds the secret key; every checkpoint is readable by its owner only."""
    for path in directory.rglob("*"):
        if not path.is_file():
            continue
        assert FAKE_SECRET.encode() not in path.read_bytes(), f"{path} holds the secret key"
        if path.name.endswith(".ck"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path} is not mode 0600"


def one_error_line(stderr: bytes, *needles: str) -> str:
    """The stage's single `error:` line, which must contain every needle."""
    text = stderr.decode()
    assert "Traceback" not in text, text
    errors = [line for line in text.splitlines() if ": error: " in line]
    assert len(errors) == 1, text
    for needle in needles:
        assert needle in errors[0], (needle, text)
    return errors[0]


@dataclass
class Job:
    """One stage's command on fresh data, and how to tell that a run of it lost nothing."""

    stage: str
    args: list[str]
    reference: Records  # an uninterrupted, fault-free run's records, timing stripped
    directory: Path
    check_state: Callable[[], None] = lambda: None
    rename: dict[str, str] = field(default_factory=dict)  # reference names -> this job's
    same_output: bool = True  # s3-repair may find a key already whole after a kill
    exit_code: int = 0  # what the reference run exited with; every complete run must too
    output: str = "out.ndjson"
    decode: Callable[[bytes], Records] = parse
    # Options that change from one run to the next (run n takes alternate[n % len]); the
    # checkpoint must not care (e.g. --parallel). The last one is the final run's.
    alternate: list[list[str]] = field(default_factory=list)

    @property
    def out(self) -> Path:
        return self.directory / self.output

    @property
    def checkpoint(self) -> Path:
        return self.directory / "run.ck"

    @property
    def reference_file(self) -> Path:
        return self.directory / "reference.ndjson"

    def command(self, run: int = -1) -> list[str]:
        varying = self.alternate[run % len(self.alternate)] if self.alternate else []
        return [*self.args, *varying, "-o", str(self.out), "--checkpoint", str(self.checkpoint)]

    def verify(self) -> Records:
        """The output equals the reference (up to timing) and the store is as it must be."""
        data = self.out.read_bytes()
        records = self.decode(data)
        if records and "type" in records[-1]:
            assert records[-1]["type"] == "summary" and records[-1]["complete"], records[-1]
        if not self.rename and self.decode is parse:
            # The same bytes, not just equal JSON, between the header and the summary.
            reference = self.reference_file.read_bytes().splitlines()
            assert data.splitlines()[1:-1] == reference[1:-1]
        text = json.dumps(strip_timing(self.reference))
        for old, new in self.rename.items():
            text = text.replace(old, new)
        expected = json.loads(text)
        if self.same_output:
            assert strip_timing(records) == expected
        else:
            assert [r.get("key") for r in records] == [r.get("key") for r in expected]
            for record in records[1:-1]:
                whole = record["status"] == "skipped" and record["action"] == "none"
                assert record["status"] == "repaired" or whole, record
        self.check_state()
        assert_private(self.directory)
        return records

    def assert_rerun_does_nothing(self, run_cli: Run, env: Mapping[str, str]) -> None:
        """The same command again, after a complete run, is a no-op (so cron may rerun
        it): the reference exit code, "nothing to do", no file touched but the checkpoint's
        lock file, into which every run writes its holder's name."""

        def files() -> list[tuple[Path, bytes, int]]:
            paths = sorted(
                path
                for path in self.directory.rglob("*")
                if path.is_file() and path.suffix != ".lock"
            )
            return [(path, path.read_bytes(), path.stat().st_mtime_ns) for path in paths]

        before = files()
        again = run_cli(self.stage, *self.command(), env=env)
        assert again.returncode == self.exit_code, again.stderr
        assert b"nothing to do" in again.stderr and again.stdout == b""
        assert files() == before


class Jobs:
    """Builds a fresh Job per stage: new buckets, new directory, a reference run."""

    def __init__(
        self,
        run_cli: Run,
        make_bucket: Callable[..., str],
        seed_objects: Seed,
        s3_client: Any,
        root: Path,
    ) -> None:
        self.run_cli = run_cli
        self.make_bucket = make_bucket
        self.seed = seed_objects
        self.s3 = s3_client
        self.root = root
        self._numbers = itertools.count(1)

    def _directory(self, stage: str) -> Path:
        directory = self.root / f"{stage}-{next(self._numbers)}"
        directory.mkdir()
        return directory

    def _reference(
        self,
        stage: str,
        args: list[str],
        directory: Path,
        exit_code: int = 0,
        name: str = "reference.ndjson",
        decode: Callable[[bytes], Records] = parse,
    ) -> Records:
        """An uninterrupted run's records; `exit_code` is what that run must exit with."""
        out = directory / name
        result = self.run_cli(stage, *args, "-o", out, "--quiet", timeout=120)
        assert result.returncode == exit_code, result.stderr
        return strip_timing(decode(out.read_bytes()))

    def build(self, stage: str, size: int = 0) -> Job:
        return {
            "s3-manifest": self.manifest,
            "s3-check": self.check,
            "s3-repair": self.repair,
            "s3-delete": self.delete,
        }[stage](size)

    def manifest(self, size: int = 0) -> Job:
        bucket = self.make_bucket()
        self.seed(bucket, {f"m/{n:05d}": b"m" * (n % 13) for n in range(size or 400)})
        directory = self._directory("manifest")
        args = [f"s3://{bucket}/", "--page-size", "5"]
        return Job("s3-manifest", args, self._reference("s3-manifest", args, directory), directory)

    def check(self, size: int = 0, mode: str = "head") -> Job:
        source, target = self.make_bucket(), self.make_bucket()
        objects = {f"c/{n:05d}": b"c" * (n % 11) for n in range(size or 300)}
        self.seed(source, objects)
        replica = {key: body for n, (key, body) in enumerate(objects.items()) if n % 9}
        replica.update({f"c/{n:05d}x": b"extra" for n in range(0, len(objects), 40)})
        replica["c/00003"] = b"changed!"
        self.seed(target, replica)
        directory = self._directory("check")
        listing = directory / "source.ndjson"
        listing.write_bytes(object_records(source, objects))
        args = [f"s3://{target}/", "-i", str(listing), "--mode", mode]
        args += ["--page-size", "5", "--concurrency", "2"]
        # Some keys are missing, changed or extra: the reference run exits 1.
        reference = self._reference("s3-check", args, directory, exit_code=1)
        return Job("s3-check", args, reference, directory, exit_code=1)

    def manifest_csv(self) -> Job:
        """s3-manifest --format s3-batch-csv: a .csv.gz output, compared row by row."""
        bucket = self.make_bucket()
        self.seed(bucket, {f"b/{n:05d}": b"b" * (n % 5) for n in range(400)})
        directory = self._directory("manifest-csv")
        args = [f"s3://{bucket}/", "--format", "s3-batch-csv", "--page-size", "5"]
        reference = self._reference(
            "s3-manifest", args, directory, name="reference.csv.gz", decode=csv_rows
        )
        return Job("s3-manifest", args, reference, directory, output="out.csv.gz", decode=csv_rows)

    def manifest_ranges(self, shard: list[str]) -> Job:
        """s3-manifest --parallel 4 (within a --shard if given) over keys spread so that
        the ranges have work to split; the reference is the sequential listing."""
        bucket = self.make_bucket()
        keys = [f"logs/{day:02d}/host-{host}/part-{part:03d}" for day in (1, 2, 30)
                for host in (1, 7) for part in range(40)]  # fmt: skip
        keys += [f"flat-{n:05d}" for n in range(300)]
        self.seed(bucket, {key: b"r" * (n % 23) for n, key in enumerate(keys)})
        directory = self._directory("manifest-ranges")
        args = [f"s3://{bucket}", *shard, "--page-size", "10"]
        job = Job("s3-manifest", args, self._reference("s3-manifest", args, directory), directory)
        job.alternate = [["--parallel", "4"]]

        def check_state() -> None:  # the resumed runs kept the bounds the first run found
            saved = json.loads(job.checkpoint.read_bytes())
            assert len(saved["cursor"]["shard_range"]) == 2
            assert 0 < len(job.reference) - 2 < len(keys)

        if shard:
            job.check_state = check_state
        return job

    def inventory(self) -> Job:
        """s3-manifest --inventory: 40,000 entries shuffled over 8 CSV data files, merged
        by the external sort in runs of 5,000."""
        entries = [Entry(f"k/{n:06d}", size=n) for n in range(40_000)]
        shuffled = random.Random(3).sample(entries, len(entries))
        directory = self._directory("inventory")
        report = build_report("src", [shuffled[n::8] for n in range(8)])
        args = ["--inventory", str(write_report(report, directory / "report"))]
        args += ["--sort-buffer", "5000"]
        return Job("s3-manifest", args, self._reference("s3-manifest", args, directory), directory)

    def check_parallel(self) -> Job:
        """s3-check in list mode, whose runs alternate --parallel 1 and 4 (a resumed run may
        list the target with another N)."""
        job = self.check(mode="list")
        job.alternate = [["--parallel", "1"], ["--parallel", "4"]]
        return job

    def repair(self, size: int = 0) -> Job:
        objects = {f"r/{n:04d}": os.urandom(n % 300) for n in range(size or 80)}
        source = self.make_bucket()
        self.seed(source, objects)
        runs = []
        for _ in range(2):  # a reference run, then the job's, on twin targets
            target = self.make_bucket()
            directory = self._directory("repair")
            checks = directory / "checks.ndjson"
            checks.write_bytes(check_records(target, objects))
            runs.append((target, directory, [f"s3://{target}/", "--from", f"s3://{source}/"]))
            runs[-1][2].extend(["-i", str(checks), "--concurrency", "2"])
        (ref_target, ref_dir, ref_args), (target, directory, args) = runs
        reference = self._reference("s3-repair", ref_args, ref_dir)

        def check_state() -> None:
            for key, body in objects.items():
                assert self.s3.get_object(Bucket=target, Key=key)["Body"].read() == body, key

        rename = {ref_target: target, str(ref_dir): str(directory)}
        return Job("s3-repair", args, reference, directory, check_state, rename, False)

    def delete(self, size: int = 0) -> Job:
        keys = [f"d/{n:05d}" for n in range(size or 300)]
        keep = {f"d/{n:05d}-keep": b"k" for n in range(0, len(keys), 60)} | {"e/outside": b"o"}
        runs = []
        for _ in range(2):
            bucket = self.make_bucket()
            self.seed(bucket, dict.fromkeys(keys, b"x") | keep)
            directory = self._directory("delete")
            listing = directory / "keys.ndjson"
            listing.write_bytes(object_records(bucket, dict.fromkeys(keys, b"x")))
            runs.append((bucket, directory, [f"s3://{bucket}/d/", "-i", str(listing)]))
            runs[-1][2].extend(["--batch-size", "5", "--concurrency", "2"])
        (ref_bucket, ref_dir, ref_args), (bucket, directory, args) = runs
        reference = self._reference("s3-delete", ref_args, ref_dir)
        assert [r["status"] for r in reference[1:-1]] == ["deleted"] * len(keys)

        def check_state() -> None:
            left = self.s3.list_objects_v2(Bucket=bucket).get("Contents", [])
            assert sorted(item["Key"] for item in left) == sorted(keep)

        rename = {ref_bucket: bucket, str(ref_dir): str(directory)}
        return Job("s3-delete", args, reference, directory, check_state, rename)


def header(stage: str, source: str) -> dict[str, Any]:
    started = "2026-01-01T00:00:00.000Z"
    return {"type": "header", "stage": stage, "version": 1, "source": source,
            "started": started, "upstream": None}  # fmt: skip


def summary(stage: str, count: int, status: str) -> dict[str, Any]:
    return {"type": "summary", "stage": stage, "complete": True, "counts": {status: count},
            "bytes": 0, "elapsed_s": 0.0, "resumed": 0}  # fmt: skip


def object_record(bucket: str, key: str, body: bytes) -> dict[str, Any]:
    return {"type": "object", "bucket": bucket, "key": key, "size": len(body),
            "etag": hashlib.md5(body).hexdigest(), "last_modified": None,
            "storage_class": "STANDARD", "version_id": None, "is_latest": True,
            "delete_marker": False, "checksum_algorithm": None}  # fmt: skip


def ndjson(records: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(record).encode() + b"\n" for record in records)


def object_records(bucket: str, objects: Mapping[str, bytes]) -> bytes:
    """A manifest of `objects` as s3-manifest would write it."""
    body = [object_record(bucket, key, data) for key, data in sorted(objects.items())]
    return ndjson(
        [header("s3-manifest", f"s3://{bucket}/"), *body,
         summary("s3-manifest", len(body), "object")]
    )  # fmt: skip


def check_records(target: str, objects: Mapping[str, bytes]) -> bytes:
    """Check records saying every object is missing from `target`."""
    body = [
        {"type": "check", "bucket": target, "key": key, "version_id": None, "status": "missing",
         "expected": object_record("source", key, data), "actual": None, "detail": None}
        for key, data in sorted(objects.items())
    ]  # fmt: skip
    return ndjson(
        [header("s3-check", f"s3://{target}/"), *body, summary("s3-check", len(body), "missing")]
    )


def send_and_wait(process: subprocess.Popen[bytes], signum: int, timeout: float = 60) -> int:
    process.send_signal(signum)
    return process.wait(timeout=timeout)


SIGNALS = {"SIGINT": (signal.SIGINT, 130), "SIGTERM": (signal.SIGTERM, 143)}
