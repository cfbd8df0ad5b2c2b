"""examples/fleet.mk end to end: `make -j 2` over two damaged bucket pairs on moto."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

FLEET = Path(__file__).resolve().parents[2] / "examples" / "fleet.mk"
Seed = Callable[[str, Mapping[str, bytes]], None]


def contents(s3_client: Any, bucket: str) -> dict[str, bytes]:
    listed = s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {
        item["Key"]: s3_client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        for item in listed
    }


def summary(path: Path) -> dict[str, Any]:
    last: dict[str, Any] = json.loads(gzip.decompress(path.read_bytes()).splitlines()[-1])
    return last


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_fleet_repairs_every_pair_and_a_second_run_does_nothing(
    cli_env: dict[str, str],
    s3_client: Any,
    make_bucket: Callable[..., str],
    seed_objects: Seed,
    tmp_path: Path,
) -> None:
    first_source, first_replica, second_source = make_bucket(), make_bucket(), make_bucket()
    second_replica = f"{second_source}-dr"  # the bare-name form: NAME + REPLICA_SUFFIX
    s3_client.create_bucket(Bucket=second_replica)
    damage = {}
    for source, replica in ((first_source, first_replica), (second_source, second_replica)):
        objects = {f"d/{n:03d} +%": f"{source}-{n}".encode() * (n + 1) for n in range(40)}
        seed_objects(source, objects)
        broken = dict(objects)
        del broken["d/003 +%"]  # missing
        broken["d/007 +%"] += b"!"  # size mismatch
        broken["d/011 +%"] = b"X" + broken["d/011 +%"][1:]  # etag mismatch
        seed_objects(replica, broken)
        damage[source] = (replica, objects)

    work = tmp_path / "work"
    command = [
        "make",
        "-f",
        str(FLEET),
        "-j",
        "2",
        f"BUCKETS={first_source}:{first_replica} {second_source}",
        "REPLICA_SUFFIX=-dr",
        f"WORK={work}",
        "NIGHT=test",
        f"BIN={Path(sys.executable).parent}",
    ]
    first = subprocess.run(command, env=cli_env, capture_output=True, timeout=300, check=False)
    assert first.returncode == 0, first.stderr.decode() + first.stdout.decode()
    for source, (replica, objects) in damage.items():
        assert contents(s3_client, replica) == objects, first.stderr.decode()
        pair = work / "test" / source
        assert summary(pair / "source.ndjson.gz")["counts"] == {"objects": 40}
        checked = summary(pair / "check.ndjson.gz")["counts"]
        assert checked == {"ok": 37, "missing": 1, "size_mismatch": 1, "etag_mismatch": 1}
        assert summary(pair / "repair.ndjson.gz")["counts"] == {"repaired": 3}

    # Only the checkpoints' lock files change: each names the last run that held it.
    outputs = sorted(path for path in work.rglob("*") if path.suffix != ".lock")
    before = {path: path.stat().st_mtime_ns for path in outputs}
    second = subprocess.run(command, env=cli_env, capture_output=True, timeout=300, check=False)
    assert second.returncode == 0, second.stderr.decode()
    assert second.stderr.decode().count("nothing to do") == 6  # 3 stages x 2 pairs
    assert sorted(path for path in work.rglob("*") if path.suffix != ".lock") == outputs
    assert {path: path.stat().st_mtime_ns for path in outputs} == before


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_fleet_without_buckets_says_so(cli_env: dict[str, str]) -> None:
    result = subprocess.run(
        ["make", "-f", str(FLEET)], env=cli_env, capture_output=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert b"BUCKETS is empty" in result.stderr
