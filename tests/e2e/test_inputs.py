"""Input files on a shared machine: secrets in URLs, unreadable input, the input as the
output, an edited input on resume, FIFOs, and keys that S3 cannot hold (issue 14)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

Run = Callable[..., Any]
Seed = Callable[[str, Mapping[str, bytes]], None]


def object_lines(bucket: str, keys: list[str], *, complete: bool = True) -> bytes:
    header = {"type": "header", "stage": "s3-manifest", "source": f"s3://{bucket}/"}
    lines = [json.dumps(header)]
    lines += [json.dumps({"type": "object", "bucket": bucket, "key": key}) for key in keys]
    summary = {"type": "summary", "stage": "s3-manifest", "complete": complete}
    lines.append(json.dumps(summary))
    return "\n".join(lines).encode() + b"\n"


def parse(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.splitlines()]


def in_bucket(s3: Any, bucket: str) -> set[str]:
    paginator = s3.get_paginator("list_objects_v2")
    return {
        o["Key"] for page in paginator.paginate(Bucket=bucket) for o in page.get("Contents", [])
    }


def test_truncated_gzip_input_records_every_deletion_and_the_rerun_completes(
    run_cli: Run,
    make_bucket: Callable[..., str],
    seed_objects: Seed,
    s3_client: Any,
    tmp_path: Path,
) -> None:
    bucket = make_bucket()
    keys = [f"k/{n:05d}" for n in range(2000)]
    seed_objects(bucket, {key: b"x" for key in keys})
    whole = gzip.compress(object_lines(bucket, keys))
    source = tmp_path / "in.ndjson.gz"
    source.write_bytes(whole[: len(whole) * 4 // 5])
    out, ck = tmp_path / "out.ndjson", tmp_path / "run.ck"
    command = [
        f"s3://{bucket}/k/",
        "-i",
        source,
        "-o",
        out,
        "--checkpoint",
        ck,
        "--batch-size",
        "100",
    ]
    first = run_cli("s3-delete", *command)
    assert first.returncode == 2, first.stderr
    error = first.stderr.decode()
    assert "Traceback" not in error and str(source) in error and "line " in error, error
    recorded = {r["key"] for r in parse(out.read_bytes()) if r["type"] == "delete"}
    gone = set(keys) - in_bucket(s3_client, bucket)
    assert gone and recorded == gone
    source.write_bytes(whole)
    again = run_cli("s3-delete", *command)
    assert again.returncode == 0, again.stderr
    records = parse(out.read_bytes())
    assert [r["key"] for r in records if r["type"] == "delete"] == keys
    assert records[-1]["complete"] and not in_bucket(s3_client, bucket)
