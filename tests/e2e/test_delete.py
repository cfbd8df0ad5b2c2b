"""s3-delete end to end: the console script as a subprocess against a moto server."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

Run = Callable[..., subprocess.CompletedProcess[bytes]]
Parse = Callable[[bytes], list[dict[str, Any]]]
Seed = Callable[[str, Mapping[str, bytes]], None]


def keys_in(s3_client: Any, bucket: str) -> list[str]:
    pages = s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def manifest(run_cli: Run, location: str, *args: str) -> bytes:
    result = run_cli("s3-manifest", location, "--quiet", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def deletes(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["type"] == "delete"]


def test_deletes_thousands_in_batches_and_keeps_order(
    run_cli: Run,
    parse_ndjson: Parse,
    make_bucket: Callable[..., str],
    seed_objects: Seed,
    s3_client: Any,
) -> None:
    bucket = make_bucket()
    doomed = {f"old/{n:05d}": b"abc" for n in range(2500)}
    seed_objects(bucket, {**doomed, "keep/me": b"k", "old-not/me": b"k"})
    listing = manifest(run_cli, f"s3://{bucket}/old/")
    result = run_cli("s3-delete", f"s3://{bucket}/old/", "--concurrency", "3", input=listing)
    assert result.returncode == 0, result.stderr
    records = parse_ndjson(result.stdout)
    assert records[0]["type"] == "header" and records[0]["source"] == f"s3://{bucket}/old/"
    assert [r["key"] for r in deletes(records)] == sorted(doomed)
    assert {r["status"] for r in deletes(records)} == {"deleted"}
    assert records[-1]["counts"] == {"deleted": 2500} and records[-1]["bytes"] == 7500
    assert keys_in(s3_client, bucket) == ["keep/me", "old-not/me"]
    assert b"2500 deleted" in result.stderr


def test_scope_guard_max_delete_and_dry_run(
    run_cli: Run,
    parse_ndjson: Parse,
    make_bucket: Callable[..., str],
    seed_objects: Seed,
    s3_client: Any,
) -> None:
    bucket = make_bucket()
    seed_objects(bucket, {f"a/{n:03d}": b"x" for n in range(30)} | {"b/1": b"x", "b/2": b"x"})
    listing = manifest(run_cli, f"s3://{bucket}/")
    dry = run_cli("s3-delete", f"s3://{bucket}/a/", "--dry-run", input=listing)
    assert dry.returncode == 1  # out-of-scope records were refused
    statuses = {r["key"]: r["status"] for r in deletes(parse_ndjson(dry.stdout))}
    assert statuses["b/1"] == statuses["b/2"] == "out_of_scope"
    assert [s for k, s in statuses.items() if k.startswith("a/")] == ["dry_run"] * 30
    assert len(keys_in(s3_client, bucket)) == 32
    capped = run_cli(
        "s3-delete", f"s3://{bucket}/a/", "--max-delete", "12", "--batch-size", "5", input=listing
    )
    assert capped.returncode == 1
    records = parse_ndjson(capped.stdout)
    assert [r["status"] for r in deletes(records)] == ["deleted"] * 12
    assert records[-1]["complete"] is False
    assert b"--max-delete 12 reached" in capped.stderr
    assert len(keys_in(s3_client, bucket)) == 32 - 12
    outside = run_cli("s3-delete", f"s3://{bucket}/a/", input=listing)
    assert outside.returncode == 1
    assert keys_in(s3_client, bucket) == ["b/1", "b/2"]


def test_check_records_need_status(
    run_cli: Run,
    parse_ndjson: Parse,
    make_bucket: Callable[..., str],
    seed_objects: Seed,
    s3_client: Any,
) -> None:
    source, replica = make_bucket(), make_bucket()
    seed_objects(source, {"k1": b"1", "k2": b"2"})
    seed_objects(replica, {"k1": b"1", "k2": b"2", "stray1": b"s", "stray2": b"s"})
    checked = run_cli("s3-check", f"s3://{replica}/", input=manifest(run_cli, f"s3://{source}/"))
    assert checked.returncode == 1
    refused = run_cli("s3-delete", f"s3://{replica}/", input=checked.stdout)
    assert refused.returncode == 2
    assert b"line 2: check records need --status" in refused.stderr
    assert len(keys_in(s3_client, replica)) == 4
    assert (
        run_cli("s3-delete", f"s3://{replica}/", "--status", "ok", input=checked.stdout).returncode
        == 2
    )
    result = run_cli("s3-delete", f"s3://{replica}/", "--status", "extra", input=checked.stdout)
    assert result.returncode == 0, result.stderr
    statuses = {r["key"]: r["status"] for r in deletes(parse_ndjson(result.stdout))}
    assert statuses == {"k1": "skipped", "k2": "skipped", "stray1": "deleted", "stray2": "deleted"}
    assert keys_in(s3_client, replica) == ["k1", "k2"]


def test_versioned_bucket(
    run_cli: Run,
    parse_ndjson: Parse,
    make_bucket: Callable[..., str],
    s3_client: Any,
) -> None:
    bucket = make_bucket(versioned=True)
    for body in (b"v1", b"v2"):
        s3_client.put_object(Bucket=bucket, Key="doc", Body=body)
    s3_client.put_object(Bucket=bucket, Key="other", Body=b"o")
    plain = run_cli("s3-delete", f"s3://{bucket}/", input=manifest(run_cli, f"s3://{bucket}/other"))
    assert plain.returncode == 0
    assert b"created delete markers" in plain.stderr
    versions = s3_client.list_object_versions(Bucket=bucket)
    assert [m["Key"] for m in versions.get("DeleteMarkers", [])] == ["other"]
    every = manifest(run_cli, f"s3://{bucket}/", "--versions")
    result = run_cli("s3-delete", f"s3://{bucket}/", input=every)
    assert result.returncode == 0, result.stderr
    records = deletes(parse_ndjson(result.stdout))
    assert len(records) == 4 and all(r["version_id"] for r in records)
    assert b"created delete markers" not in result.stderr
    after = s3_client.list_object_versions(Bucket=bucket)
    assert after.get("Versions", []) == [] and after.get("DeleteMarkers", []) == []


def test_local_directory(run_cli: Run, parse_ndjson: Parse, tmp_path: Path) -> None:
    root = tmp_path / "root"
    for name in ("old/a/1", "old/a/2", "old/b", "keep/x"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"data")
    listing = manifest(run_cli, str(root), "--include", "old/*")
    result = run_cli("s3-delete", str(root), input=listing)
    assert result.returncode == 0, result.stderr
    assert [r["status"] for r in deletes(parse_ndjson(result.stdout))] == ["deleted"] * 3
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == ["keep", "keep/x"]
    escape = b'{"type":"object","bucket":"%s","key":"../outside"}\n' % str(root).encode()
    (tmp_path / "outside").write_bytes(b"precious")
    refused = run_cli("s3-delete", str(root), input=escape)
    assert refused.returncode == 1
    assert deletes(parse_ndjson(refused.stdout))[0]["status"] == "failed"
    assert (tmp_path / "outside").read_bytes() == b"precious"


def test_partial_failures_are_retried_then_reported(
    run_cli: Run,
    parse_ndjson: Parse,
    make_bucket: Callable[..., str],
    seed_objects: Seed,
    slow_endpoint: Callable[[float], Any],
) -> None:
    bucket = make_bucket()
    keys = [f"k{n:04d}" for n in range(1500)]
    seed_objects(bucket, dict.fromkeys(keys, b"x"))
    listing = manifest(run_cli, f"s3://{bucket}/")
    proxy = slow_endpoint(0)
    proxy.faults.delete_fail_once = {"k0007", "k1200"}
    proxy.faults.delete_fail_always = {"k0500"}
    result = run_cli(
        "s3-delete",
        f"s3://{bucket}/",
        input=listing,
        env={"AWS_ENDPOINT_URL": proxy.url},
    )
    assert result.returncode == 1, result.stderr
    records = deletes(parse_ndjson(result.stdout))
    assert [r["key"] for r in records] == keys
    failed = [(r["key"], r["error"]) for r in records if r["status"] != "deleted"]
    assert failed == [("k0500", "AccessDenied")]
    assert proxy.faults.delete_fail_once == set()  # both were really retried


def test_throttling_is_survived(
    run_cli: Run,
    parse_ndjson: Parse,
    make_bucket: Callable[..., str],
    seed_objects: Seed,
    slow_endpoint: Callable[[float], Any],
    s3_client: Any,
) -> None:
    bucket = make_bucket()
    seed_objects(bucket, {f"k{n:04d}": b"x" for n in range(600)})
    listing = manifest(run_cli, f"s3://{bucket}/")
    proxy = slow_endpoint(0)
    proxy.faults.throttle_deletes = 8
    result = run_cli(
        "s3-delete",
        f"s3://{bucket}/",
        "--batch-size",
        "50",
        input=listing,
        env={"AWS_ENDPOINT_URL": proxy.url},
    )
    assert result.returncode == 0, result.stderr
    assert parse_ndjson(result.stdout)[-1]["counts"] == {"deleted": 600}
    assert len([p for p in proxy.requests("POST") if "delete" in p]) >= 12 + 8
    assert keys_in(s3_client, bucket) == []
