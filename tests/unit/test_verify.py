"""Judging content across part layouts: `unverified` unless the bytes were shown equal."""

import hashlib
import io
from pathlib import Path
from typing import IO

import pytest

from lib.leaves.hashing import ContentHasher
from lib.leaves.location import Location
from lib.leaves.records import ObjectRecord, format_timestamp
from lib.pipelines.verify import LayoutUnknown, Verifier, checked_part_size, full_object_checksums
from lib.stores.protocol import ObjectInfo, Stores
from lib.stores.s3store import S3Store

PART = 1000
DATA = bytes(range(256)) * 10  # 2560 bytes: 3 parts of 1000
CHANGED = DATA[:7] + b"!" + DATA[8:]


def etag(data: bytes, part_size: int | None) -> str:
    hasher = ContentHasher(part_size=part_size)
    hasher.update(data)
    return hasher.etag()


class MemoryBucket(S3Store):
    """A bucket in memory; `layouts` is what HEAD partNumber=1 answers (None: no object)."""

    def __init__(
        self, name: str, objects: dict[str, bytes], layouts: dict[str, tuple[int, int | None]]
    ) -> None:
        super().__init__(None, Location("s3", name))
        self.objects = objects
        self.layouts = layouts

    def part_layout(self, key: str, version_id: str | None = None) -> tuple[int, int | None] | None:
        return self.layouts.get(key)

    def open(self, key: str, version_id: str | None = None) -> IO[bytes]:
        return io.BytesIO(self.objects[key])


def record(bucket: str, data: bytes, part_size: int | None) -> ObjectRecord:
    return ObjectRecord(bucket=bucket, key="k", size=len(data), etag=etag(data, part_size))


def read(
    source_layout: tuple[int, int | None] | None,
    replica: bytes,
    replica_part_size: int | None = None,
    source_part_size: int | None = PART,
) -> tuple[str, str | None]:
    """Read-mode verdict on a replica of DATA (source uploaded in source_part_size parts)."""
    source = MemoryBucket("src", {"k": DATA}, {"k": source_layout} if source_layout else {})
    target_layout = (replica_part_size or len(replica), 3 if replica_part_size else None)
    target = MemoryBucket("dst", {"k": replica}, {"k": target_layout})
    verifier = Verifier(Stores(None, {"src": source, "dst": target}))
    expected = record("src", DATA, source_part_size)
    info = ObjectInfo(record("dst", replica, replica_part_size))
    assert verifier.compare(expected, info.record)[0] in ("unverified", "etag_mismatch")
    verdict, size = verifier.read(expected, target, info)
    assert size == len(replica)
    return verdict


def test_etags_of_different_part_layouts_are_unverified_not_ok() -> None:
    verifier = Verifier(Stores(None))
    status, detail = verifier.compare(record("src", DATA, PART), record("dst", DATA, None))
    assert status == "unverified"
    assert detail is not None and "different upload part layouts" in detail


def test_read_mode_recomputes_the_etag_in_the_expected_layout() -> None:
    assert read((PART, 3), DATA) == ("ok", "read 2560 bytes; verified etag, expected etag")
    status, detail = read((PART, 3), CHANGED)
    assert status == "etag_mismatch"
    assert detail == (
        f"content hashes to ETag {etag(CHANGED, PART)} in 1000-byte parts, "
        f"the expected ETag is {etag(DATA, PART)}"
    )


def test_a_plain_md5_expected_is_compared_with_the_content_md5() -> None:
    source_md5 = hashlib.md5(DATA).hexdigest()
    assert read(None, DATA, PART, source_part_size=None) == (
        "ok",
        "read 2560 bytes; verified etag, expected etag",
    )
    status, detail = read(None, CHANGED, PART, source_part_size=None)
    assert status == "etag_mismatch" and detail is not None and source_md5 in detail


@pytest.mark.parametrize(
    ("layout", "why"),
    [
        ((len(DATA), None), "gave no part count for partNumber=1"),  # Ceph RGW 16
        ((PART, 2), "the server says k has 2 parts, its ETag says 3"),
        ((400, 3), "3 parts of 400 bytes cannot make the 2560 bytes of k"),
        (None, "s3://src/k is gone"),
    ],
)
def test_a_layout_that_cannot_be_learned_leaves_it_unverified(
    layout: tuple[int, int | None] | None, why: str
) -> None:
    for replica in (DATA, CHANGED):
        status, detail = read(layout, replica)
        assert status == "unverified"
        assert detail is not None and why in detail and detail.startswith("read 2560 bytes")


def test_equal_etags_need_no_layout_of_the_expected_object() -> None:
    """As in list mode, equal ETags show the content equal; reading checks the object's
    own bytes, which a server that ignores partNumber leaves unrecomputed."""
    bucket = MemoryBucket("dst", {"k": DATA}, {"k": (len(DATA), None)})
    verifier = Verifier(Stores(None, {"dst": bucket}))
    expected = record("dst", DATA, PART)
    verdict, _ = verifier.read(expected, bucket, ObjectInfo(expected))
    assert verdict == (
        "ok",
        "read 2560 bytes (its own ETag was not recomputed: the server gave no part count for "
        "partNumber=1 of k (it may not support partNumber)); verified size",
    )
    bucket.layouts["k"] = (PART, 3)
    assert verifier.read(expected, bucket, ObjectInfo(expected))[0] == (
        "ok",
        "read 2560 bytes; verified etag",
    )


@pytest.mark.parametrize(
    ("part_size", "count", "fits"),
    [(PART, 3, True), (854, 3, True), (853, 3, False), (2560, 3, False), (PART, -1, True),
     (1279, -1, True), (1280, -1, False), (PART, 4, False), (PART, None, False)],
)  # fmt: skip
def test_a_part_size_is_trusted_only_when_it_can_make_the_etag(
    part_size: int, count: int | None, fits: bool
) -> None:
    expected = record("src", DATA, PART)
    if fits:
        assert checked_part_size(part_size, count, expected) == part_size
    else:
        with pytest.raises(LayoutUnknown):
            checked_part_size(part_size, count, expected)


def listed(root: Path, key: str) -> ObjectRecord:
    """A local file's record as a listing gives it (no ETag without --md5)."""
    info = (root / key).stat()
    return ObjectRecord(
        bucket=str(root),
        key=key,
        size=info.st_size,
        last_modified=format_timestamp(info.st_mtime),
    )


def test_files_without_etags_are_compared_by_md5(tmp_path: Path) -> None:
    source, replica = tmp_path / "source", tmp_path / "replica"
    for root, files in (
        (source, {"same": DATA, "bad": DATA}),
        (replica, {"same": DATA, "bad": CHANGED}),
    ):
        root.mkdir()
        for name, data in files.items():
            (root / name).write_bytes(data)
    verifier = Verifier(Stores(None))

    def compare(expected_root: Path, name: str) -> tuple[str, str | None]:
        expected = ObjectRecord(bucket=str(expected_root), key=name, size=len(DATA))
        return verifier.compare(expected, listed(replica, name))

    assert compare(source, "same") == ("ok", None)
    assert compare(source, "bad") == (
        "etag_mismatch",
        f"the file's MD5 is {hashlib.md5(CHANGED).hexdigest()}, the expected file's is "
        f"{hashlib.md5(DATA).hexdigest()}",
    )
    status, detail = compare(replica, "bad")  # a file against itself shows nothing
    assert status == "unverified" and detail is not None and "--md5" in detail


def test_a_local_file_against_a_layout_the_server_cannot_describe_is_unverified(
    tmp_path: Path,
) -> None:
    (tmp_path / "k").write_bytes(DATA)
    source = MemoryBucket("src", {"k": DATA}, {"k": (len(DATA), None)})
    verifier = Verifier(Stores(None, {"src": source}))
    local = listed(tmp_path, "k")
    status, detail = verifier.compare(record("src", DATA, PART), local)
    assert status == "unverified"
    assert detail is not None and "the local file's ETag cannot be computed" in detail
    source.layouts["k"] = (PART, 3)
    assert verifier.compare(record("src", DATA, PART), local) == ("ok", None)


@pytest.mark.parametrize(
    ("etag", "checksum_type", "comparable"),
    [
        ("abc", None, ["CRC32", "CRC64NVME"]),  # one PUT: every checksum covers the whole
        ("abc-3", None, ["CRC64NVME"]),  # in parts: CRC64NVME is full-object only
        ("abc-3", "FULL_OBJECT", ["CRC32", "CRC64NVME"]),
        ("abc-3", "COMPOSITE", ["CRC64NVME"]),
        ("abc", "COMPOSITE", ["CRC64NVME"]),
    ],
)
def test_full_object_checksums_are_those_comparable_across_layouts(
    etag: str, checksum_type: str | None, comparable: list[str]
) -> None:
    info = ObjectInfo(
        ObjectRecord(bucket="b", key="k", size=1, etag=etag),
        checksums={"CRC32": "AAAAAA==", "CRC64NVME": "QQqEn1fqXkY="},
        checksum_type=checksum_type,
    )
    assert sorted(full_object_checksums(info)) == comparable


def crc32(data: bytes) -> str:
    hasher = ContentHasher(full=("CRC32",))
    hasher.update(data)
    return hasher.checksum("CRC32")


@pytest.mark.parametrize(
    ("layout", "replica", "replica_part_size", "source_part_size", "checksums", "status"),
    [
        ((PART, 3), DATA, None, PART, {}, "ok"),  # the expected layout, learned
        ((PART, 3), CHANGED, None, PART, {}, "etag_mismatch"),
        ((PART, 2), DATA, None, PART, {}, "unverified"),  # a layout that cannot be trusted
        (None, DATA, PART, None, {"CRC32": crc32(DATA)}, "ok"),
        (None, DATA, PART, None, {"CRC32": crc32(CHANGED)}, "checksum_mismatch"),
        (None, CHANGED, None, None, {"CRC32": crc32(CHANGED)}, "etag_mismatch"),
    ],
)
def test_a_body_in_hand_is_judged_as_reading_the_object_would_judge_it(
    layout: tuple[int, int | None] | None,
    replica: bytes,
    replica_part_size: int | None,
    source_part_size: int | None,
    checksums: dict[str, str],
    status: str,
) -> None:
    """Read mode's one GET (headers and body at once) reaches the verdict of a HEAD and
    a read, and a body that is not the whole object is never judged by its hashes."""
    source = MemoryBucket("src", {"k": DATA}, {"k": layout} if layout else {})
    target = MemoryBucket("dst", {"k": replica}, {"k": (replica_part_size or len(replica), 3)})
    verifier = Verifier(Stores(None, {"src": source, "dst": target}))
    expected = record("src", DATA, source_part_size)
    info = ObjectInfo(record("dst", replica, replica_part_size), checksums=checksums)
    verdict, _ = verifier.read(expected, target, info)
    assert verdict[0] == status
    assert verifier.judge_body(expected, info, replica) == verdict
    short = verifier.judge_body(expected, info, replica[:-1])
    assert short == ("unreadable", f"read {len(replica) - 1} bytes of {len(replica)}")
