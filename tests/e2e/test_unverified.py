"""Same-size replicas whose ETags come from different part layouts: never `ok` unshown.

A source object uploaded in 3 parts and a replica written by one PUT of the same
size have ETags that cannot be compared. List and head mode call it `unverified`;
read mode recomputes the ETag in the source's layout (HEAD partNumber=1 on the
source) and so finds a changed byte; a server that ignores partNumber (Ceph RGW 16,
played by the proxy) or a source that is gone leaves it `unverified`, never `ok`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., subprocess.CompletedProcess[bytes]]
Parse = Callable[[bytes], list[dict[str, Any]]]

PART = 1000
DATA = bytes(range(256)) * 10  # 2560 bytes: 3 parts of 1000


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Lets the in-process moto server accept parts of PART bytes (S3's minimum is 5 MiB)."""
    monkeypatch.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", PART)
    yield


def upload_in_3_parts(s3_client: Any, bucket: str, key: str, **checksum: str) -> None:
    upload = s3_client.create_multipart_upload(Bucket=bucket, Key=key, **checksum)["UploadId"]
    parts = []
    for number, start in enumerate(range(0, len(DATA), PART), 1):
        body = DATA[start : start + PART]
        sent = s3_client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=body, **checksum
        )
        part = {"PartNumber": number, "ETag": sent["ETag"]}
        parts.append(part | {name: sent[name] for name in sent if name.startswith("Checksum")})
    s3_client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
    )


@pytest.fixture
def replicas(
    small_parts: None,
    make_bucket: Callable[..., str],
    s3_client: Any,
    put_objects: Callable[..., dict[str, str]],
    run_cli: Run,
) -> tuple[str, str, bytes]:
    """(source, target, source manifest): `bad` replicated with one byte changed, `same`
    replicated whole, both by one PUT of the multipart source's size."""
    source, target = make_bucket(), make_bucket()
    for key in ("bad", "same"):
        upload_in_3_parts(s3_client, source, key)
    changed = DATA[:1500] + bytes([DATA[1500] ^ 1]) + DATA[1501:]
    put_objects(target, {"bad": changed, "same": DATA})
    listing = run_cli("s3-manifest", f"s3://{source}/", "-q")
    assert listing.returncode == 0 and b'-3"' in listing.stdout
    return source, target, listing.stdout


def statuses(parse: Parse, result: subprocess.CompletedProcess[bytes]) -> dict[str, str]:
    return {r["key"]: r["status"] for r in parse(result.stdout) if r["type"] in ("check", "repair")}


def test_same_size_corruption_is_unverified_until_read_mode_finds_it(
    run_cli: Run, parse_ndjson: Parse, replicas: tuple[str, str, bytes]
) -> None:
    source, target, listing = replicas
    for mode in ("list", "head"):
        checked = run_cli("s3-check", f"s3://{target}/", "--mode", mode, "-q", input=listing)
        assert checked.returncode == 1, checked.stderr
        assert statuses(parse_ndjson, checked) == {"bad": "unverified", "same": "unverified"}
    assert b"different upload part layouts" in checked.stdout
    skipped = run_cli("s3-repair", f"s3://{target}/", "--from", f"s3://{source}/", "-q",
                      input=checked.stdout)  # fmt: skip
    assert skipped.returncode == 0, skipped.stderr
    assert statuses(parse_ndjson, skipped) == {"bad": "skipped", "same": "skipped"}
    read = run_cli("s3-check", f"s3://{target}/", "--mode", "read", "-q", input=listing)
    assert read.returncode == 1, read.stderr
    assert statuses(parse_ndjson, read) == {"bad": "etag_mismatch", "same": "ok"}
    assert b"in 1000-byte parts" in read.stdout and b"verified etag, expected etag" in read.stdout
    repair = ["s3-repair", f"s3://{target}/", "--from", f"s3://{source}/", "-q"]
    repaired = run_cli(*repair, "--status", "unverified", input=checked.stdout)
    assert repaired.returncode == 0, repaired.stderr
    assert statuses(parse_ndjson, repaired) == {"bad": "repaired", "same": "repaired"}
    final = run_cli("s3-check", f"s3://{target}/", "--mode", "read", "-q", input=listing)
    assert final.returncode == 0, final.stdout


def test_a_layout_the_server_cannot_describe_leaves_it_unverified(
    run_cli: Run,
    parse_ndjson: Parse,
    replicas: tuple[str, str, bytes],
    s3_client: Any,
    slow_endpoint: Callable[[float], Any],
) -> None:
    source, target, listing = replicas
    ceph = slow_endpoint(0)
    ceph.faults.ignore_part_number = True
    read = ["s3-check", f"s3://{target}/", "--mode", "read", "-q"]
    ignored = run_cli(*read, "--endpoint-url", ceph.url, input=listing)
    assert ignored.returncode == 1, ignored.stderr
    assert statuses(parse_ndjson, ignored) == {"bad": "unverified", "same": "unverified"}
    assert b"gave no part count for partNumber=1" in ignored.stdout
    assert any("partNumber=1" in path for path in ceph.requests("HEAD"))
    s3_client.delete_object(Bucket=source, Key="same")
    gone = run_cli(*read, input=listing)
    assert statuses(parse_ndjson, gone) == {"bad": "etag_mismatch", "same": "unverified"}
    assert f"s3://{source}/same is gone".encode() in gone.stdout


def test_local_files_without_etags_are_compared_by_md5(
    run_cli: Run, parse_ndjson: Parse, tmp_path: Path
) -> None:
    source, replica = tmp_path / "source", tmp_path / "replica"
    for root, bad in ((source, DATA), (replica, DATA[:-1] + b"!")):
        root.mkdir()
        (root / "bad").write_bytes(bad)
        (root / "same").write_bytes(DATA)
    listing = run_cli("s3-manifest", str(source), "-q")
    assert b'"etag":null' in listing.stdout
    checked = run_cli("s3-check", str(replica), "-q", input=listing.stdout)
    assert checked.returncode == 1, checked.stderr
    assert statuses(parse_ndjson, checked) == {"bad": "etag_mismatch", "same": "ok"}
    itself = run_cli("s3-check", "-q", input=listing.stdout)  # the source against itself
    assert itself.returncode == 1, itself.stderr
    assert statuses(parse_ndjson, itself) == {"bad": "unverified", "same": "unverified"}
    assert b"s3-manifest --md5 gives one" in itself.stdout


def test_stored_full_object_checksums_are_compared_across_layouts(
    run_cli: Run,
    parse_ndjson: Parse,
    small_parts: None,
    make_bucket: Callable[..., str],
    s3_client: Any,
    slow_endpoint: Callable[[float], Any],
) -> None:
    source, target = make_bucket(), make_bucket()
    crc = {"ChecksumAlgorithm": "CRC64NVME"}  # full-object in S3, multipart or not
    for key, replica in (("bad", DATA[:-1] + b"!"), ("same", DATA)):
        upload_in_3_parts(s3_client, source, key, **crc)
        s3_client.put_object(Bucket=target, Key=key, Body=replica, **crc)
    listing = run_cli("s3-manifest", f"s3://{source}/", "-q").stdout
    head = run_cli("s3-check", f"s3://{target}/", "--mode", "head", "-q", input=listing)
    assert statuses(parse_ndjson, head) == {"bad": "checksum_mismatch", "same": "ok"}
    assert b"the stored full-object CRC64NVME checksums are equal" in head.stdout
    ceph = slow_endpoint(0)
    ceph.faults.ignore_part_number = True
    read = ["s3-check", f"s3://{target}/", "--mode", "read", "--endpoint-url", ceph.url, "-q"]
    resolved = run_cli(*read, input=listing)
    assert statuses(parse_ndjson, resolved) == {"bad": "checksum_mismatch", "same": "ok"}
    assert b"verified etag, CRC64NVME, expected checksum" in resolved.stdout
