"""--format s3-batch-csv end to end: S3 Batch Operations manifests from every stage."""

from __future__ import annotations

import gzip
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

Run = Callable[..., subprocess.CompletedProcess[bytes]]
Seed = Callable[[str, Mapping[str, bytes]], None]

# Each key with the row it must become, written out by hand. A key with "\n" cannot be
# PUT through moto's server, so it is seeded straight into its storage.
HARD = {
    "a b": "a%20b",
    "c+d": "c%2Bd",
    "100%": "100%25",
    "%2F": "%252F",
    "dir/sub/f.txt": "dir/sub/f.txt",
    "/lead//x": "/lead//x",
    "é/日本": "%C3%A9/%E6%97%A5%E6%9C%AC",
    "new\nline": "new%0Aline",
    'comma,"q"': "comma%2C%22q%22",
    "amp&<t>?#": "amp%26%3Ct%3E%3F%23",
}


def rows(data: bytes) -> list[list[str]]:
    assert data.endswith(b"\n") or not data, data[-100:]
    return [line.split(",") for line in data.decode("ascii").splitlines()]


def test_manifest_rows_encode_hard_keys_exactly(
    run_cli: Run, make_bucket: Callable[..., str], seed_objects: Seed, tmp_path: Path
) -> None:
    name = make_bucket()
    seed_objects(name, {key: b"x" for key in HARD})
    expected = [
        f"{name},{HARD[key]}\n".encode()
        for key in sorted(HARD, key=lambda key: key.encode("utf-8"))
    ]
    plain = run_cli("s3-manifest", f"s3://{name}", "--format", "s3-batch-csv", "--quiet")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == b"".join(expected)  # no header, no summary, no version column
    assert [unquote(row[1]) for row in rows(plain.stdout)] == sorted(HARD, key=str.encode)

    out = tmp_path / "batch.csv.gz"
    zipped = run_cli("s3-manifest", f"s3://{name}", "--format", "s3-batch-csv", "-o", out)
    assert zipped.returncode == 0, zipped.stderr
    assert gzip.decompress(out.read_bytes()) == plain.stdout
    assert "listed" in zipped.stderr.decode()  # progress and the final line still go to stderr


def test_versioned_manifest_has_a_version_on_every_row(
    run_cli: Run, make_bucket: Callable[..., str], s3_client: Any
) -> None:
    name = make_bucket()
    s3_client.put_object(Bucket=name, Key="pre", Body=b"0")  # before versioning: "null"
    s3_client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    versions = {}
    for key, body in [("a b", b"1"), ("a b", b"2"), ("z", b"3")]:
        time.sleep(0.01)  # moto orders versions by their millisecond timestamps
        versions.setdefault(key, []).append(
            s3_client.put_object(Bucket=name, Key=key, Body=body)["VersionId"]
        )
    time.sleep(0.01)
    s3_client.delete_object(Bucket=name, Key="z")  # a delete marker: no row
    result = run_cli("s3-manifest", f"s3://{name}", "--versions", "--format", "s3-batch-csv")
    assert result.returncode == 0, result.stderr
    assert rows(result.stdout) == [
        [name, "a%20b", versions["a b"][1]],
        [name, "a%20b", versions["a b"][0]],
        [name, "pre", "null"],
        [name, "z", versions["z"][0]],
    ]


def test_check_missing_lists_the_sources_to_copy(
    run_cli: Run, make_bucket: Callable[..., str], seed_objects: Seed, tmp_path: Path
) -> None:
    source, replica = make_bucket(), make_bucket()
    objects = {f"data/{key}": key.encode() for key in HARD}
    seed_objects(source, objects)
    kept = {"a b", "dir/sub/f.txt", "é/日本"}
    seed_objects(replica, {f"backup/{key}": key.encode() for key in kept})
    seed_objects(replica, {"backup/stray": b"extra"})
    listing = tmp_path / "src.ndjson"
    made = run_cli("s3-manifest", f"s3://{source}/data/", "-o", listing)
    assert made.returncode == 0, made.stderr

    out = tmp_path / "missing.csv"
    args = [f"s3://{replica}/backup/", "-i", listing, "--status", "missing"]
    result = run_cli("s3-check", *args, "--format", "s3-batch-csv", "-o", out)
    assert result.returncode == 1, result.stderr  # not every object is ok
    missing = sorted((key for key in HARD if key not in kept), key=str.encode)
    assert out.read_bytes() == b"".join(f"{source},data/{HARD[k]}\n".encode() for k in missing)

    extra = run_cli("s3-check", *args[:3], "--status", "extra", "--format", "s3-batch-csv")
    assert extra.stdout == f"{replica},backup/stray\n".encode(), extra.stderr

    # The same records through s3-delete --dry-run and s3-repair --dry-run.
    checks = run_cli("s3-check", *args[:3], "--status", "extra")
    deleted = run_cli(
        "s3-delete",
        f"s3://{replica}/backup/",
        "--status",
        "extra",
        "--dry-run",
        "--format",
        "s3-batch-csv",
        input=checks.stdout,
    )
    assert deleted.stdout == f"{replica},backup/stray\n".encode(), deleted.stderr
    checks_file = tmp_path / "chk.ndjson"
    run_cli("s3-check", *args, "-o", checks_file)
    repaired_run = run_cli(
        "s3-repair",
        f"s3://{replica}/backup/",
        "--from",
        f"s3://{source}/data/",
        "-i",
        checks_file,
        "--dry-run",
        "--format",
        "s3-batch-csv",
    )
    assert repaired_run.stdout == out.read_bytes(), repaired_run.stderr


def test_mixed_versions_stop_with_a_clear_error(
    run_cli: Run, make_bucket: Callable[..., str], seed_objects: Seed, tmp_path: Path
) -> None:
    name = make_bucket()
    seed_objects(name, {"a": b"1"})
    records = (
        b'{"type":"object","bucket":"%s","key":"a","version_id":"v1"}\n'
        b'{"type":"object","bucket":"%s","key":"b"}\n' % (name.encode(), name.encode())
    )
    result = run_cli(
        "s3-delete",
        f"s3://{name}",
        "--dry-run",
        "--format",
        "s3-batch-csv",
        "--checkpoint",
        tmp_path / "ck",
        "-o",
        tmp_path / "out.csv",
        input=records,
    )
    assert result.returncode == 2
    assert b"version ids on all rows or on none" in result.stderr
    assert b"Traceback" not in result.stderr
