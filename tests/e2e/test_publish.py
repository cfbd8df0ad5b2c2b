"""s3-manifest --publish / --from-published end to end against the moto server."""

from __future__ import annotations

import gzip
import json
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., subprocess.CompletedProcess[bytes]]
Parse = Callable[[bytes], list[dict[str, Any]]]
Seed = Callable[[str, Mapping[str, bytes]], None]


def body_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [record for record in records if record["type"] == "object"]


@pytest.fixture
def published(
    run_cli: Run, make_bucket: Callable[..., str], seed_objects: Seed, tmp_path: Path
) -> tuple[str, str, Path]:
    """A source bucket listed and published to s3://<meta>/src.ndjson.gz; (src, url, output)."""
    source, meta = make_bucket(), make_bucket()
    seed_objects(source, {f"k/{n:03d} x+": b"v" * n for n in range(30)})
    url = f"s3://{meta}/manifests/src.ndjson.gz"
    out = tmp_path / "src.ndjson"
    result = run_cli(
        "s3-manifest",
        f"s3://{source}",
        "-o",
        out,
        "--checkpoint",
        tmp_path / "ck",
        "--publish",
        url,
    )
    assert result.returncode == 0, result.stderr
    assert f"published {url}".encode() in result.stderr
    return source, url, out


def test_publish_uploads_the_complete_manifest_once(
    run_cli: Run, s3_client: Any, published: tuple[str, str, Path], tmp_path: Path
) -> None:
    source, url, out = published
    bucket, key = url.removeprefix("s3://").split("/", 1)
    body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert gzip.decompress(body) == out.read_bytes()
    modified = s3_client.head_object(Bucket=bucket, Key=key)["LastModified"]
    # A cron rerun: the checkpoint is complete and the copy already holds this listing.
    again = run_cli(
        "s3-manifest",
        f"s3://{source}",
        "-o",
        out,
        "--checkpoint",
        tmp_path / "ck",
        "--publish",
        url,
    )
    assert again.returncode == 0, again.stderr
    assert b"already holds this listing" in again.stderr
    assert s3_client.head_object(Bucket=bucket, Key=key)["LastModified"] == modified
    # To a local path too: the file appears whole, by rename.
    local = tmp_path / "pub" / "src.ndjson.gz"
    local.parent.mkdir()
    result = run_cli(
        "s3-manifest", f"s3://{source}", "-o", tmp_path / "b.ndjson.gz", "--publish", local
    )
    assert result.returncode == 0, result.stderr
    assert gzip.decompress(local.read_bytes()) == gzip.decompress(
        (tmp_path / "b.ndjson.gz").read_bytes()
    )
    assert [p.name for p in local.parent.iterdir()] == ["src.ndjson.gz"]  # no temp left over


def test_publish_needs_a_file_and_a_gz_url(run_cli: Run, bucket: str) -> None:
    to_stdout = run_cli("s3-manifest", f"s3://{bucket}", "--publish", f"s3://{bucket}/m.gz")
    assert to_stdout.returncode == 2 and b"-o FILE" in to_stdout.stderr
    plain = run_cli("s3-manifest", f"s3://{bucket}", "-o", "/dev/null", "--publish", "m.ndjson")
    assert plain.returncode == 2 and b"gzip" in plain.stderr


def test_fresh_copy_is_read_instead_of_listing(
    run_cli: Run, parse_ndjson: Parse, seed_objects: Seed, published: tuple[str, str, Path]
) -> None:
    source, url, out = published
    seed_objects(source, {"k/new": b"after publishing"})  # a live listing would show it
    result = run_cli("s3-manifest", f"s3://{source}", "--from-published", url, "--max-age", "1h")
    assert result.returncode == 0, result.stderr
    assert f"reading the published manifest {url}".encode() in result.stderr
    records, original = parse_ndjson(result.stdout), parse_ndjson(out.read_bytes())
    assert body_records(records) == body_records(original)
    header = records[0]
    assert header["upstream"]["published"] == url
    assert header["upstream"]["started"] == original[0]["started"]
    assert records[-1]["complete"] is True and records[-1]["counts"] == {"objects": 30}
    # --include applies to the published records as to a listing.
    some = run_cli("s3-manifest", f"s3://{source}", "--from-published", url, "--include", "k/00*")
    assert [r["key"] for r in body_records(parse_ndjson(some.stdout))] == [
        f"k/{n:03d} x+" for n in range(10)
    ]


def test_stale_copy_falls_back_to_listing(
    run_cli: Run, parse_ndjson: Parse, seed_objects: Seed, published: tuple[str, str, Path]
) -> None:
    source, url, _ = published
    seed_objects(source, {"k/new": b"after publishing"})
    result = run_cli("s3-manifest", f"s3://{source}", "--from-published", url, "--max-age", "0s")
    assert result.returncode == 0, result.stderr
    assert b"listing live" in result.stderr and b"is stale" in result.stderr
    records = parse_ndjson(result.stdout)
    assert records[0]["upstream"] is None
    assert "k/new" in [r["key"] for r in body_records(records)]


@pytest.mark.parametrize("damage", ["incomplete", "missing", "another location"])
def test_unusable_copy_falls_back_to_listing(
    run_cli: Run,
    parse_ndjson: Parse,
    s3_client: Any,
    make_bucket: Callable[..., str],
    published: tuple[str, str, Path],
    damage: str,
) -> None:
    source, url, out = published
    bucket, key = url.removeprefix("s3://").split("/", 1)
    lines = out.read_bytes().splitlines(keepends=True)
    if damage == "incomplete":  # what a killed run leaves: no complete summary
        summary = json.loads(lines[-1]) | {"complete": False}
        cut = b"".join(lines[:10]) + json.dumps(summary).encode() + b"\n"
        s3_client.put_object(Bucket=bucket, Key=key, Body=gzip.compress(cut))
    elif damage == "missing":
        s3_client.delete_object(Bucket=bucket, Key=key)
    else:
        other = make_bucket()
        result = run_cli(
            "s3-manifest", f"s3://{other}", "-o", out.with_name("o.ndjson"), "--publish", url
        )
        assert result.returncode == 0, result.stderr
    result = run_cli("s3-manifest", f"s3://{source}", "--from-published", url)
    assert result.returncode == 0, result.stderr
    assert f"listing live: the published manifest {url} ".encode() in result.stderr
    assert damage.encode() in result.stderr
    records = parse_ndjson(result.stdout)
    assert records[0]["upstream"] is None
    assert body_records(records) == body_records(parse_ndjson(out.read_bytes()))
