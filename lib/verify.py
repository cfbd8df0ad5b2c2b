"""Deciding whether an object is what a record expects: by metadata, or by its bytes.

`Verifier.compare` judges metadata (size, then ETag) and computes a local file's
ETag when one side is a local directory. `Verifier.read` streams the object and
recomputes its MD5 or multipart ETag and every stored S3 checksum in one pass.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from lib.hashing import CHUNK, SUPPORTED_CHECKSUMS, ContentHasher, etag_parts, file_etag
from lib.local import changed_since
from lib.location import Location
from lib.records import ObjectRecord
from lib.stores import LocalStore, ObjectInfo, S3Store

Verdict = tuple[str, str | None]
OK: Verdict = ("ok", None)
EXISTS: Verdict = ("ok", "existence checked only")
CHANGED: Verdict = (
    "error",
    "the local file changed since it was listed or while it was hashed; check it again",
)


def existence_only(expected: ObjectRecord) -> bool:
    """A record that names an object without describing it (s3-manifest --keys)."""
    return expected.size is None and expected.etag is None


@dataclass
class Stores:
    """One store per bucket (or local directory), made on first use."""

    client: Any
    by_bucket: dict[str, S3Store | LocalStore] = field(default_factory=dict)

    def get(self, bucket: str) -> S3Store | LocalStore:
        store = self.by_bucket.get(bucket)
        if store is None:
            if bucket.startswith("/"):
                store = LocalStore(Location("local", bucket))
            else:
                store = S3Store(self.client, Location("s3", bucket))
            self.by_bucket[bucket] = store
        return store


class Verifier:
    def __init__(self, stores: Stores, *, part_size: int | None = None) -> None:
        self.stores = stores
        self.part_size = part_size

    def compare(self, expected: ObjectRecord, actual: ObjectRecord) -> Verdict:
        """Size first, then ETag; a local side without an ETag gets one computed."""
        if existence_only(expected):
            return EXISTS
        if expected.size is not None and actual.size != expected.size:
            return "size_mismatch", f"size is {actual.size}, expected {expected.size}"
        wanted, found = expected.etag, actual.etag
        if wanted is None and found is None:
            return OK
        if wanted is not None and found is not None:
            if wanted == found:
                return OK
            if etag_parts(wanted) == etag_parts(found):
                return "etag_mismatch", f"etag is {found}, expected {wanted}"
            return "ok", (
                f"sizes match; ETags {found} and {wanted} come from different upload part "
                "layouts, so content was not compared (use --mode read)"
            )
        local, other = (expected, actual) if wanted is None else (actual, expected)
        return self._compare_local(local, other)

    def _compare_local(self, local: ObjectRecord, other: ObjectRecord) -> Verdict:
        path = self.stores.get(local.bucket).local_path(local.key)
        if path is None or other.etag is None:
            return "ok", "sizes match; no ETag to compare"
        try:
            part_size = self.layout_part_size(other)
            computed = file_etag(path, part_size)
        except OSError as exc:
            return "unreadable", f"cannot read {path}: {exc.strerror}"
        except Exception as exc:
            return "error", f"cannot find the part size of {other.key}: {exc}"
        if changed_since(path, local):
            return CHANGED
        if computed == other.etag:
            return OK
        return "etag_mismatch", f"the local file's ETag is {computed}, the S3 ETag is {other.etag}"

    def layout_part_size(self, record: ObjectRecord) -> int | None:
        """The part size that makes a local file's ETag comparable with record's ETag."""
        if not etag_parts(record.etag):
            return None
        if self.part_size:
            return self.part_size
        store = self.stores.get(record.bucket)
        if isinstance(store, S3Store):
            return store.part_size(record.key, record.version_id)
        raise ValueError("pass --part-size to compare multipart ETags with local files")

    def read(
        self, expected: ObjectRecord, store: S3Store | LocalStore, info: ObjectInfo
    ) -> tuple[Verdict, int]:
        """Streams the object and checks its bytes; returns the verdict and bytes read."""
        actual = info.record
        reference = actual if actual.etag else expected
        try:
            part_size = self.layout_part_size(reference) if reference.etag else None
        except Exception as exc:
            return ("error", f"cannot find the part size: {exc}"), 0
        stored = {
            name: value for name, value in info.checksums.items() if name in SUPPORTED_CHECKSUMS
        }
        # Multipart checksums are composite (`...-N`) or full-object; when the server
        # does not say which, both are computed in the same pass and either may match.
        kind = info.checksum_type
        full = tuple(name for name in stored if kind != "COMPOSITE")
        composite = tuple(name for name in stored if part_size and kind != "FULL_OBJECT")
        hasher = ContentHasher(part_size=part_size, full=full, composite=composite)
        try:
            stream = store.open(actual.key, actual.version_id)
            with contextlib.closing(stream):
                while chunk := stream.read(CHUNK):
                    hasher.update(chunk)
        except Exception as exc:
            return ("unreadable", f"reading failed after {hasher.size} bytes: {exc}"), hasher.size
        if actual.size is not None and hasher.size != actual.size:
            return ("unreadable", f"read {hasher.size} bytes of {actual.size}"), hasher.size
        path = store.local_path(actual.key)
        if path is not None and changed_since(path, actual):
            return CHANGED, hasher.size
        return self._judge_content(expected, info, hasher, stored, part_size), hasher.size

    def _judge_content(
        self,
        expected: ObjectRecord,
        info: ObjectInfo,
        hasher: ContentHasher,
        stored: dict[str, str],
        part_size: int | None,
    ) -> Verdict:
        computed = hasher.etag()
        verified = []
        for etag, whose in ((info.record.etag, "its stored"), (expected.etag, "the expected")):
            if etag is None or etag_parts(etag) != etag_parts(computed) or info.sse_kms:
                continue
            if etag != computed:
                return "etag_mismatch", f"content hashes to ETag {computed}, {whose} ETag is {etag}"
            verified.append("etag")
        for name, value in stored.items():
            candidates = []
            if name in hasher.full_names:
                candidates.append(hasher.checksum(name))
            if name in hasher.composite_names:
                candidates.append(hasher.composite_checksum(name))
            if not candidates:
                continue
            if not any(_same_checksum(value, mine) for mine in candidates):
                mine = " or ".join(candidates)
                return "checksum_mismatch", f"content has {name} {mine}, stored {name} is {value}"
            verified.append(name)
        what = ", ".join(dict.fromkeys(verified)) or "size"
        return "ok", f"read {hasher.size} bytes; verified {what}"


def _same_checksum(stored: str, computed: str) -> bool:
    """Equal values; a stored composite may omit its `-N` suffix (some servers do)."""
    if stored == computed:
        return True
    base, _, parts = computed.partition("-")
    return bool(parts) and stored == base
