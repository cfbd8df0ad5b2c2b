"""s3-check end to end: the console scripts as subprocesses against a moto server."""

from __future__ import annotations

import json
import os
import random
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., subprocess.CompletedProcess[bytes]]
Parse = Callable[[bytes], list[dict[str, Any]]]

SOURCE = {f"data/{name}": name.encode() * 3 for name in ("a", "b b", "c+d", "é", "k1", "k2", "k3")}


def damaged(prefix: str) -> tuple[dict[str, bytes], dict[str, str]]:
    """A replica of SOURCE under prefix, with one object per kind of damage."""
    replica = {prefix + key.removeprefix("data/"): body for key, body in SOURCE.items()}
    del replica[prefix + "b b"]
    replica[prefix + "c+d"] += b"!"
    replica[prefix + "k1"] = b"K" + replica[prefix + "k1"][1:]
    replica[prefix + "aa"] = b"stray"
    replica[prefix + "ÿ"] = b"stray"  # sorts after every expected key
    statuses = {
        prefix + "b b": "missing",
        prefix + "c+d": "size_mismatch",
        prefix + "k1": "etag_mismatch",
        prefix + "aa": "extra",
        prefix + "ÿ": "extra",
    }
    return replica, statuses


def non_ok(records: list[dict[str, Any]]) -> dict[str, str]:
    return {r["key"]: r["status"] for r in records if r["type"] == "check" and r["status"] != "ok"}


def manifest(run_cli: Run, location: str) -> bytes:
    result = run_cli("s3-manifest", location, "--quiet")
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def source_and_replica(
    make_bucket: Callable[..., str], seed_objects: Callable[[str, Mapping[str, bytes]], None]
) -> tuple[str, str, dict[str, str]]:
    source, target = make_bucket(), make_bucket()
    seed_objects(source, SOURCE)
    replica, statuses = damaged("backup/")
    seed_objects(target, replica)
    return source, target, statuses


def test_list_mode_finds_every_kind_of_damage(
    run_cli: Run, parse_ndjson: Parse, source_and_replica: tuple[str, str, dict[str, str]]
) -> None:
    source, target, statuses = source_and_replica
    result = run_cli(
        "s3-check", f"s3://{target}/backup/", input=manifest(run_cli, f"s3://{source}/data/")
    )
    assert result.returncode == 1, result.stderr
    records = parse_ndjson(result.stdout)
    assert records[0]["type"] == "header" and records[0]["upstream"]["stage"] == "s3-manifest"
    assert non_ok(records) == statuses
    checks = [r for r in records if r["type"] == "check"]
    assert len(checks) == len(SOURCE) + 2
    assert [r["key"] for r in checks] == sorted((r["key"] for r in checks), key=str.encode)
    ok = next(r for r in checks if r["key"] == "backup/a")
    assert ok["status"] == "ok" and ok["bucket"] == target
    assert ok["expected"]["bucket"] == source and ok["expected"]["key"] == "data/a"
    assert ok["actual"]["key"] == "backup/a"
    summary = records[-1]
    assert summary["complete"] is True
    assert summary["counts"] == {
        "ok": 4,
        "missing": 1,
        "size_mismatch": 1,
        "etag_mismatch": 1,
        "extra": 2,
    }
    assert b"missing" in result.stderr and result.stderr.startswith(b"s3-check: 9 checked in ")


@pytest.mark.parametrize("mode", ["head", "read"])
def test_head_and_read_modes_find_the_same_damage_but_no_extras(
    run_cli: Run,
    parse_ndjson: Parse,
    source_and_replica: tuple[str, str, dict[str, str]],
    mode: str,
) -> None:
    source, target, statuses = source_and_replica
    result = run_cli(
        "s3-check",
        f"s3://{target}/backup/",
        "--mode",
        mode,
        "--concurrency",
        "4",
        input=manifest(run_cli, f"s3://{source}/data/"),
    )
    assert result.returncode == 1, result.stderr
    assert non_ok(parse_ndjson(result.stdout)) == {
        k: v for k, v in statuses.items() if v != "extra"
    }


def test_status_filter_and_exit_code_zero_when_all_ok(
    run_cli: Run,
    parse_ndjson: Parse,
    source_and_replica: tuple[str, str, dict[str, str]],
    tmp_path: Path,
) -> None:
    source, target, _ = source_and_replica
    listing = manifest(run_cli, f"s3://{source}/data/")
    only = run_cli(
        "s3-check",
        f"s3://{target}/backup/",
        "--status",
        "missing",
        "--status",
        "extra",
        input=listing,
    )
    assert only.returncode == 1
    records = parse_ndjson(only.stdout)
    assert {r["status"] for r in records if r["type"] == "check"} == {"missing", "extra"}
    assert records[-1]["counts"]["ok"] == 4  # counted, though not written
    same = run_cli("s3-check", input=listing)  # the source against itself
    assert same.returncode == 0, same.stderr
    assert parse_ndjson(same.stdout)[-1]["counts"] == {"ok": len(SOURCE)}
    bad = run_cli("s3-check", "--status", "fine", input=listing)
    assert bad.returncode == 2 and b"unknown --status fine" in bad.stderr


def test_incomplete_input_emits_no_trailing_extras_and_exits_1(
    run_cli: Run, parse_ndjson: Parse, source_and_replica: tuple[str, str, dict[str, str]]
) -> None:
    source, target, _ = source_and_replica
    lines = manifest(run_cli, f"s3://{source}/data/").splitlines(keepends=True)
    truncated = b"".join(lines[:-1])  # as if the listing had died: no summary
    result = run_cli("s3-check", f"s3://{target}/backup/", input=truncated)
    assert result.returncode == 1
    found = non_ok(parse_ndjson(result.stdout))
    assert "backup/ÿ" not in found and found["backup/aa"] == "extra"
    assert b"did not end with a complete summary" in result.stderr
    assert parse_ndjson(result.stdout)[-1]["complete"] is False
    empty = run_cli("s3-check", f"s3://{target}/backup/", input=lines[0] + lines[-1])
    assert empty.returncode == 1 and non_ok(parse_ndjson(empty.stdout)) == {}
    assert b"the input is empty" in empty.stderr


def test_unsorted_input_stops_with_a_hint_and_head_mode_takes_it(
    run_cli: Run, parse_ndjson: Parse, source_and_replica: tuple[str, str, dict[str, str]]
) -> None:
    source, target, statuses = source_and_replica
    lines = manifest(run_cli, f"s3://{source}/data/").splitlines(keepends=True)
    body = lines[1:-1]
    random.Random(7).shuffle(body)
    while body == sorted(body, key=lambda line: json.loads(line)["key"].encode()):
        random.Random(8).shuffle(body)
    shuffled = lines[0] + b"".join(body) + lines[-1]
    result = run_cli("s3-check", f"s3://{target}/backup/", input=shuffled)
    assert result.returncode == 2
    assert b"not sorted" in result.stderr and b"--mode head" in result.stderr
    assert b"Traceback" not in result.stderr
    head = run_cli("s3-check", f"s3://{target}/backup/", "--mode", "head", input=shuffled)
    assert head.returncode == 1
    assert non_ok(parse_ndjson(head.stdout)) == {k: v for k, v in statuses.items() if v != "extra"}


def write_tree(root: Path, files: Mapping[str, bytes]) -> None:
    for name, body in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)


def test_local_directory_against_bucket_and_back(
    run_cli: Run,
    parse_ndjson: Parse,
    source_and_replica: tuple[str, str, dict[str, str]],
    tmp_path: Path,
) -> None:
    source, target, statuses = source_and_replica
    local = tmp_path / "local"
    write_tree(local, {key.removeprefix("data/"): body for key, body in SOURCE.items()})
    up = run_cli("s3-check", f"s3://{target}/backup/", input=manifest(run_cli, str(local)))
    assert up.returncode == 1, up.stderr
    assert non_ok(parse_ndjson(up.stdout)) == statuses  # the local MD5s were computed
    replica_dir = tmp_path / "replica"
    replica, _ = damaged("")
    write_tree(replica_dir, replica)
    down = run_cli("s3-check", str(replica_dir), input=manifest(run_cli, f"s3://{source}/data/"))
    assert down.returncode == 1, down.stderr
    records = parse_ndjson(down.stdout)
    assert non_ok(records) == {key.removeprefix("backup/"): v for key, v in statuses.items()}
    assert records[1]["bucket"] == str(replica_dir)


def test_read_mode_verifies_stored_checksums(
    run_cli: Run,
    parse_ndjson: Parse,
    make_bucket: Callable[..., str],
    seed_objects: Callable[[str, Mapping[str, bytes]], None],
    s3_client: Any,
) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    bucket = make_bucket()
    for algorithm in ("CRC32", "CRC32C", "SHA256", "CRC64NVME"):
        s3_client.put_object(
            Bucket=bucket,
            Key=f"good-{algorithm}",
            Body=b"payload" * 100,
            ChecksumAlgorithm=algorithm,
        )
    s3_client.put_object(
        Bucket=bucket, Key="rotten", Body=b"payload" * 100, ChecksumAlgorithm="CRC32"
    )
    rotten = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_object(bucket, "rotten")
    rotten.checksum_value = "AAAAAA=="  # the stored checksum no longer matches the bytes
    listing = manifest(run_cli, f"s3://{bucket}/")
    result = run_cli("s3-check", "--mode", "read", input=listing)
    assert result.returncode == 1, result.stderr
    records = {r["key"]: r for r in parse_ndjson(result.stdout) if r["type"] == "check"}
    assert records["rotten"]["status"] == "checksum_mismatch"
    assert "AAAAAA==" in records["rotten"]["detail"]
    for algorithm in ("CRC32", "CRC32C", "SHA256", "CRC64NVME"):
        record = records[f"good-{algorithm}"]
        assert record["status"] == "ok", record
        assert algorithm in record["detail"] and "etag" in record["detail"]
    assert b"B/s)" in result.stderr


def test_multipart_objects_in_read_mode_and_against_local_files(
    run_cli: Run,
    parse_ndjson: Parse,
    make_bucket: Callable[..., str],
    s3_client: Any,
    tmp_path: Path,
) -> None:
    part = 5 * 1024 * 1024
    data = os.urandom(2 * part + 1000)
    bucket = make_bucket()
    upload = s3_client.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    parts = []
    for number, start in enumerate(range(0, len(data), part), 1):
        response = s3_client.upload_part(
            Bucket=bucket,
            Key="big",
            UploadId=upload,
            PartNumber=number,
            Body=data[start : start + part],
        )
        parts.append({"PartNumber": number, "ETag": response["ETag"]})
    s3_client.complete_multipart_upload(
        Bucket=bucket, Key="big", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    listing = manifest(run_cli, f"s3://{bucket}/")
    assert json.loads(listing.splitlines()[1])["etag"].endswith("-3")
    read = run_cli("s3-check", "--mode", "read", input=listing)
    assert read.returncode == 0, read.stderr
    assert "verified etag" in parse_ndjson(read.stdout)[1]["detail"]
    local = tmp_path / "copy"
    write_tree(local, {"big": data})
    same = run_cli("s3-check", str(local), input=listing)  # part size found with HEAD partNumber=1
    assert same.returncode == 0, same.stdout
    write_tree(local, {"big": data[:-1] + b"\0"})
    changed = run_cli("s3-check", str(local), input=listing)
    assert changed.returncode == 1
    assert non_ok(parse_ndjson(changed.stdout)) == {"big": "etag_mismatch"}


def test_unreadable_and_error_statuses(
    run_cli: Run,
    parse_ndjson: Parse,
    make_bucket: Callable[..., str],
    seed_objects: Callable[[str, Mapping[str, bytes]], None],
    slow_endpoint: Callable[[float], Any],
) -> None:
    bucket = make_bucket()
    bodies = {"fine": b"f" * 5000, "torn": b"t" * 5000, "locked": b"l" * 5000}
    seed_objects(bucket, {**bodies, "unreadable": b"u" * 5000})
    listing = manifest(run_cli, f"s3://{bucket}/")
    proxy = slow_endpoint(0)
    proxy.faults.cut_short = {f"/{bucket}/torn"}  # the body stops halfway, every time
    proxy.faults.status = {
        ("HEAD", f"/{bucket}/locked"): 403,
        ("GET", f"/{bucket}/locked"): 403,
        ("GET", f"/{bucket}/unreadable"): 403,  # its HEAD answers: it is there, not readable
    }
    result = run_cli(
        "s3-check", "--mode", "read", input=listing, env={"AWS_ENDPOINT_URL": proxy.url}
    )
    assert result.returncode == 1, result.stderr
    records = {r["key"]: r for r in parse_ndjson(result.stdout) if r["type"] == "check"}
    assert records["fine"]["status"] == "ok"
    assert records["torn"]["status"] == "unreadable"
    assert "reading failed" in records["torn"]["detail"]
    assert records["locked"]["status"] == "error" and "403" in records["locked"]["detail"]
    assert records["unreadable"]["status"] == "unreadable"
    assert "AccessDenied" in records["unreadable"]["detail"]
    assert records["unreadable"]["actual"]["size"] == 5000  # what its HEAD said
