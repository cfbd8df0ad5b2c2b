"""One-pass content verification: MD5, multipart ETags and S3's stored checksums.

A multipart ETag is the MD5 of the concatenated binary MD5s of the parts,
followed by `-<parts>`; a composite multipart checksum is built the same way
from the parts' checksums. Both need the part size, which HEAD partNumber=1
reveals. Everything is computed while the bytes stream past, in bounded memory.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from typing import Any

CHUNK = 1 << 20


def _crc(name: str) -> tuple[Callable[[bytes, int], int], int]:
    from awscrt import checksums

    functions: dict[str, tuple[Callable[[bytes, int], int], int]] = {
        "CRC32": (checksums.crc32, 4),
        "CRC32C": (checksums.crc32c, 4),
        "CRC64NVME": (checksums.crc64nvme, 8),
    }
    return functions[name]


class _Checksum:
    """A running S3 checksum (CRC or SHA) that yields its raw big-endian bytes."""

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self._digest: Any = None
        self._crc: tuple[Callable[[bytes, int], int], int] | None = None
        self._value = 0
        if algorithm in ("SHA1", "SHA256"):
            self._digest = hashlib.new(algorithm.lower())
        else:
            self._crc = _crc(algorithm)

    def update(self, data: bytes | memoryview) -> None:
        if self._digest is not None:
            self._digest.update(data)
        else:
            assert self._crc is not None
            self._value = self._crc[0](bytes(data), self._value)

    def raw(self) -> bytes:
        if self._digest is not None:
            raw: bytes = self._digest.digest()
            return raw
        assert self._crc is not None
        return self._value.to_bytes(self._crc[1], "big")


SUPPORTED_CHECKSUMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")


class ContentHasher:
    """Feeds on an object's bytes; then tells its ETag and the requested checksums.

    `part_size` makes the ETag (and composite checksums) multipart; `composite`
    names algorithms whose stored value is composite (`...-N`), the others are
    computed over the full object.
    """

    def __init__(
        self,
        *,
        part_size: int | None = None,
        full: tuple[str, ...] = (),
        composite: tuple[str, ...] = (),
    ) -> None:
        self.part_size = part_size
        self.size = 0
        self._whole_md5 = hashlib.md5(usedforsecurity=False) if part_size is None else None
        self._part_md5s: list[bytes] = []
        self.full_names = full
        self.composite_names = composite
        self._full = {name: _Checksum(name) for name in full}
        self._part_checksums: dict[str, list[bytes]] = {name: [] for name in composite}
        self._new_part()

    def _new_part(self) -> None:
        self._part_filled = 0
        self._part_md5 = hashlib.md5(usedforsecurity=False) if self.part_size else None
        self._part_sums = {name: _Checksum(name) for name in self.composite_names}

    def _close_part(self) -> None:
        if self._part_md5 is not None:
            self._part_md5s.append(self._part_md5.digest())
        for name, running in self._part_sums.items():
            self._part_checksums[name].append(running.raw())
        self._new_part()

    def update(self, data: bytes) -> None:
        self.size += len(data)
        if self._whole_md5 is not None:
            self._whole_md5.update(data)
        for running in self._full.values():
            running.update(data)
        if not self.part_size:
            return
        view = memoryview(data)
        while view:
            room = self.part_size - self._part_filled
            piece, view = view[:room], view[room:]
            if self._part_md5 is not None:
                self._part_md5.update(piece)
            for running in self._part_sums.values():
                running.update(piece)
            self._part_filled += len(piece)
            if self._part_filled == self.part_size:
                self._close_part()

    def _finish_parts(self) -> None:
        if self.part_size and (self._part_filled or not self._part_md5s):
            self._close_part()

    def etag(self) -> str:
        if self._whole_md5 is not None:
            return self._whole_md5.hexdigest()
        self._finish_parts()
        combined = hashlib.md5(b"".join(self._part_md5s), usedforsecurity=False).hexdigest()
        return f"{combined}-{len(self._part_md5s)}"

    def checksum(self, algorithm: str) -> str:
        """The full-object checksum in S3's form: base64 of the raw value."""
        return base64.b64encode(self._full[algorithm].raw()).decode()

    def composite_checksum(self, algorithm: str) -> str:
        """The composite checksum of the parts in S3's form: `<base64>-<parts>`."""
        self._finish_parts()
        parts = self._part_checksums[algorithm]
        outer = _Checksum(algorithm)
        outer.update(b"".join(parts))
        return f"{base64.b64encode(outer.raw()).decode()}-{len(parts)}"


def etag_parts(etag: str | None) -> int | None:
    """The part count of a multipart ETag, 0 for a plain MD5 ETag, None if unknown."""
    if not etag:
        return None
    _, dash, count = etag.rpartition("-")
    if not dash:
        return 0
    return int(count) if count.isdigit() else None


def file_etag(path: str, part_size: int | None) -> str:
    """The ETag S3 would give this file uploaded whole (None) or in parts of part_size."""
    if part_size is None:
        return file_md5(path)
    hasher = ContentHasher(part_size=part_size)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            hasher.update(chunk)
    return hasher.etag()


def file_md5(path: str) -> str:
    """The hex MD5 of a file. A tree of small files is hashed one file per call, so this
    uses bare file descriptors: Python's buffered file object costs more than the hashing
    (about 20 against 8 microseconds per small file)."""
    md5 = hashlib.md5(usedforsecurity=False)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        while chunk := os.read(fd, CHUNK):
            md5.update(chunk)
    finally:
        os.close(fd)
    return md5.hexdigest()
