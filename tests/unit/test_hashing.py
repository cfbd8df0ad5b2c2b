"""ETags and checksums recomputed from bytes match what an S3 implementation stores."""

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from lib.leaves.hashing import CHUNK, ContentHasher, etag_parts, file_etag

PART = 5 * 1024 * 1024
DATA = os.urandom(2 * PART + 12345)


@pytest.fixture
def s3(server_client: Any) -> Any:
    """A client of the session's moto server, with the bucket `bkt`."""
    server_client.create_bucket(Bucket="bkt")  # us-east-1: a bucket one owns again is OK
    return server_client


def upload_in_parts(s3: Any, key: str, data: bytes, part: int, algorithm: str | None) -> None:
    extra = {"ChecksumAlgorithm": algorithm} if algorithm else {}
    upload = s3.create_multipart_upload(Bucket="bkt", Key=key, **extra)["UploadId"]
    parts = []
    for number, start in enumerate(range(0, len(data), part), 1):
        response = s3.upload_part(
            Bucket="bkt",
            Key=key,
            UploadId=upload,
            PartNumber=number,
            Body=data[start : start + part],
            **extra,
        )
        entry = {"PartNumber": number, "ETag": response["ETag"]}
        if algorithm:
            entry[f"Checksum{algorithm}"] = response[f"Checksum{algorithm}"]
        parts.append(entry)
    s3.complete_multipart_upload(
        Bucket="bkt", Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
    )


def hashed(data: bytes, chunk: int = 65536, **options: Any) -> ContentHasher:
    hasher = ContentHasher(**options)
    for start in range(0, len(data), chunk):
        hasher.update(data[start : start + chunk])
    return hasher


def test_single_part_etag_is_the_md5(s3: Any, tmp_path: Path) -> None:
    s3.put_object(Bucket="bkt", Key="one", Body=DATA[:1000])
    etag = s3.head_object(Bucket="bkt", Key="one")["ETag"].strip('"')
    assert hashed(DATA[:1000]).etag() == etag
    (tmp_path / "f").write_bytes(DATA[:1000])
    assert file_etag(str(tmp_path / "f"), None) == etag


@pytest.mark.parametrize("size", [0, CHUNK - 1, CHUNK, 2 * CHUNK + 7])
def test_a_whole_file_etag_is_its_md5_across_read_chunks(tmp_path: Path, size: int) -> None:
    data = (DATA * (size // len(DATA) + 1))[:size]
    (tmp_path / "f").write_bytes(data)
    assert file_etag(str(tmp_path / "f"), None) == hashlib.md5(data).hexdigest()


@pytest.mark.parametrize("chunk", [1000, PART, 3 * PART])
def test_multipart_etag_matches_the_server(s3: Any, tmp_path: Path, chunk: int) -> None:
    upload_in_parts(s3, "mp", DATA, PART, None)
    etag = s3.head_object(Bucket="bkt", Key="mp")["ETag"].strip('"')
    assert etag.endswith("-3") and etag_parts(etag) == 3
    assert hashed(DATA, chunk, part_size=PART).etag() == etag
    (tmp_path / "f").write_bytes(DATA)
    assert file_etag(str(tmp_path / "f"), PART) == etag
    assert file_etag(str(tmp_path / "f"), PART + 1) != etag


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"])
def test_full_object_checksums_match_the_server(s3: Any, algorithm: str) -> None:
    s3.put_object(Bucket="bkt", Key=algorithm, Body=DATA[:70000], ChecksumAlgorithm=algorithm)
    head = s3.head_object(Bucket="bkt", Key=algorithm, ChecksumMode="ENABLED")
    hasher = hashed(DATA[:70000], 4096, full=(algorithm,))
    assert hasher.checksum(algorithm) == head[f"Checksum{algorithm}"]
    assert (
        hashed(DATA[1:70001], 4096, full=(algorithm,)).checksum(algorithm)
        != head[f"Checksum{algorithm}"]
    )


def test_composite_checksum_of_a_multipart_upload(s3: Any) -> None:
    upload_in_parts(s3, "mpc", DATA, PART, "CRC32")
    stored = s3.head_object(Bucket="bkt", Key="mpc", ChecksumMode="ENABLED")["ChecksumCRC32"]
    hasher = hashed(DATA, 77777, part_size=PART, composite=("CRC32",))
    composite = hasher.composite_checksum("CRC32")
    assert composite.endswith("-3")
    assert stored in (composite, composite.split("-")[0])  # moto drops the -N suffix


@pytest.mark.parametrize(
    ("etag", "parts"), [("abc", 0), ("abc-12", 12), (None, None), ("a-b", None)]
)
def test_etag_parts(etag: str | None, parts: int | None) -> None:
    assert etag_parts(etag) == parts
