"""Deciding whether an object is what a record expects: by metadata, or by its bytes.

`Verifier.compare` judges metadata (size, then ETag) and computes a local file's
ETag when one side is a local directory. Two ETags of different part layouts say
nothing about the content: the verdict is then `unverified`, never `ok`.
`Verifier.read` streams the object and recomputes, in one pass, its own ETag and
every stored S3 checksum (is the stored object whole?) and the ETag in the
*expected* object's layout (is it the expected content?).

A multipart ETag can only be recomputed with the part size of its upload, learned
with `HEAD partNumber=1` (or `--part-size`). The answer is trusted only when it
describes the ETag's layout: the part count the server gives is the ETag's, and N
parts of that size can make the object's size. A server that ignores `partNumber`
(it answers with the whole object and no part count) cannot make a check `ok`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from lib.leaves.hashing import (
    SUPPORTED_CHECKSUMS,
    ContentHasher,
    etag_parts,
    file_etag,
    file_md5,
)
from lib.leaves.records import ObjectRecord
from lib.stores.local import changed_since
from lib.stores.protocol import LayoutUnknown, ObjectInfo, Store, Stores

__all__ = ["LayoutUnknown", "Verifier", "checked_part_size", "full_object_checksums"]

Verdict = tuple[str, str | None]
# What Verifier.read asks a stream for at a time: a whole range of lib/stores/crt/reader.py,
# which it then hands over without a copy (hashlib releases the GIL on such pieces).
READ_PIECE = 4 * 1024 * 1024
OK: Verdict = ("ok", None)
EXISTS: Verdict = ("ok", "existence checked only")
CHANGED: Verdict = (
    "error",
    "the local file changed since it was listed or while it was hashed; check it again",
)


def existence_only(expected: ObjectRecord) -> bool:
    """A record that names an object without describing it (s3-manifest --keys)."""
    return expected.size is None and expected.etag is None


def checked_part_size(part_size: int | None, parts_count: int | None, record: ObjectRecord) -> int:
    """`part_size` if parts of it can have made `record`'s multipart ETag, else LayoutUnknown.

    `parts_count` is what the server said (None: it said nothing, as a server that
    ignores partNumber does; pass -1 for a part size given by the user)."""
    parts = etag_parts(record.etag) or 0
    if parts_count is None:
        raise LayoutUnknown(
            f"the server gave no part count for partNumber=1 of {record.key} (it may not "
            "support partNumber)"
        )
    if parts_count not in (-1, parts):
        raise LayoutUnknown(
            f"the server says {record.key} has {parts_count} parts, its ETag says {parts}"
        )
    size = record.size
    if not part_size or size is None or not (parts - 1) * part_size < size <= parts * part_size:
        raise LayoutUnknown(
            f"{parts} parts of {part_size} bytes cannot make the {size} bytes of {record.key}"
        )
    return part_size


@dataclass
class ReadPlan:
    """What `Verifier.read` hashes the bytes for: the object's own reference, the expected
    one, the hashers that feed on the bytes (the first in the object's own layout) and the
    stored checksums to recompute."""

    own: Reference
    wanted: Reference | None
    hashers: list[ContentHasher]
    stored: dict[str, str]

    def update(self, chunk: bytes) -> None:
        for hasher in self.hashers:
            hasher.update(chunk)


@dataclass
class Reference:
    """An ETag that bytes can be hashed to, and the part size of its layout (None: one MD5)."""

    etag: str | None
    part_size: int | None = None
    why: str | None = None  # with etag None: why there is nothing to hash to


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
            return self._compare_files(expected, actual)
        if wanted is not None and found is not None:
            if wanted == found:
                return OK
            if etag_parts(wanted) == etag_parts(found):
                return "etag_mismatch", f"etag is {found}, expected {wanted}"
            return "unverified", (
                f"sizes match; ETags {found} and {wanted} come from different upload part "
                "layouts, so content was not compared (use --mode read)"
            )
        local, other = (expected, actual) if wanted is None else (actual, expected)
        return self._compare_local(local, other)

    def _compare_files(self, expected: ObjectRecord, actual: ObjectRecord) -> Verdict:
        """Neither side has an ETag: two local files are compared by their MD5s."""
        want, have = (self.stores.get(r.bucket).local_path(r.key) for r in (expected, actual))
        if want is None or have is None or want == have:
            return "unverified", "sizes match; no ETag to compare (s3-manifest --md5 gives one)"
        try:
            wanted, found = file_md5(want), file_md5(have)
        except OSError as exc:
            return "unreadable", f"cannot read {exc.filename}: {exc.strerror}"
        if changed_since(have, actual):
            return CHANGED
        if wanted == found:
            return OK
        return "etag_mismatch", f"the file's MD5 is {found}, the expected file's is {wanted}"

    def _compare_local(self, local: ObjectRecord, other: ObjectRecord) -> Verdict:
        path = self.stores.get(local.bucket).local_path(local.key)
        if path is None or other.etag is None:
            return "unverified", "sizes match; no ETag to compare"
        try:
            part_size = self.layout_part_size(other)
            computed = file_etag(path, part_size)
        except LayoutUnknown as exc:
            return "unverified", f"sizes match; the local file's ETag cannot be computed: {exc}"
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
        """The part size of the upload layout of record's ETag (None for a plain MD5);
        LayoutUnknown when it cannot be learned reliably."""
        if not etag_parts(record.etag):
            return None
        if self.part_size:
            return checked_part_size(self.part_size, -1, record)
        store = self.stores.get(record.bucket)
        layout = store.part_layout(record.key, record.version_id)  # local: LayoutUnknown
        if layout is None:
            raise LayoutUnknown(f"{store.where(record.key)} is gone, so its part layout is unknown")
        return checked_part_size(*layout, record)

    def compare_checksums(self, expected: ObjectRecord, info: ObjectInfo) -> Verdict | None:
        """The object's full-object checksums against the expected object's (one HEAD of
        it); None when the two share none."""
        mine = full_object_checksums(info)
        store = self.stores.get(expected.bucket)
        if not mine:
            return None
        try:
            source = store.head(expected.key, expected.version_id)
        except Exception:
            return None  # the fallback is optional: the verdict stays what it was
        theirs = full_object_checksums(source) if source is not None else {}
        for name in mine.keys() & theirs.keys():
            if mine[name] == theirs[name]:
                return "ok", f"sizes match; the stored full-object {name} checksums are equal"
            return "checksum_mismatch", (
                f"stored {name} is {mine[name]}, the expected object's is {theirs[name]}"
            )
        return None

    def _reference(self, record: ObjectRecord) -> Reference:
        try:
            return Reference(record.etag, self.layout_part_size(record))
        except LayoutUnknown as exc:
            return Reference(None, why=str(exc))

    def _expected_reference(self, expected: ObjectRecord, actual: ObjectRecord) -> Reference | None:
        """What the bytes must hash to, to be the expected object; None when there is nothing
        more to show: the record describes nothing, or the ETags are equal (as list mode
        judges), so the object's own ETag is the one to recompute."""
        if existence_only(expected) or (expected.etag is not None and expected.etag == actual.etag):
            return None
        if expected.etag is None:
            path = self.stores.get(expected.bucket).local_path(expected.key)
            if path is None:
                return Reference(None, why="the expected record has no ETag")
            return Reference(file_md5(path))  # the expected object is a local file
        return self._reference(expected)

    def read(self, expected: ObjectRecord, store: Store, info: ObjectInfo) -> tuple[Verdict, int]:
        """Streams the object and checks its bytes, against its own ETag and checksums and
        against the expected object; returns the verdict and bytes read."""
        plan = self._read_plan(expected, info)
        if not isinstance(plan, ReadPlan):
            return plan, 0
        hasher = plan.hashers[0]
        try:
            stream = store.open(info.record.key, info.record.version_id)
            with contextlib.closing(stream):
                while chunk := stream.read(READ_PIECE):
                    plan.update(chunk)
        except Exception as exc:
            return ("unreadable", f"reading failed after {hasher.size} bytes: {exc}"), hasher.size
        return self._read_verdict(expected, info, plan, store), hasher.size

    def judge_body(self, expected: ObjectRecord, info: ObjectInfo, body: bytes) -> Verdict:
        """`read`'s verdict for an object whose whole body is already here (one GET gave
        `info` and `body`)."""
        plan = self._read_plan(expected, info)
        if not isinstance(plan, ReadPlan):
            return plan
        plan.update(body)
        return self._read_verdict(expected, info, plan, None)

    def _read_plan(self, expected: ObjectRecord, info: ObjectInfo) -> ReadPlan | Verdict:
        """The hashes to compute while the bytes pass, or the verdict when the references
        cannot be learned."""
        actual = info.record
        try:
            own = self._reference(actual) if actual.etag else Reference(None)
            wanted = self._expected_reference(expected, actual)
        except OSError as exc:
            return "unreadable", f"cannot read {exc.filename}: {exc.strerror}"
        except Exception as exc:
            return "error", f"cannot find the part size: {exc}"
        stored = {
            name: value for name, value in info.checksums.items() if name in SUPPORTED_CHECKSUMS
        }
        # Multipart checksums are composite (`...-N`) or full-object; when the server
        # does not say which, both are computed in the same pass and either may match.
        kind = info.checksum_type
        full = tuple(name for name in stored if kind != "COMPOSITE")
        composite = tuple(name for name in stored if own.part_size and kind != "FULL_OBJECT")
        hashers = [ContentHasher(part_size=own.part_size, full=full, composite=composite)]
        if wanted is not None and wanted.etag and wanted.part_size != own.part_size:
            hashers.append(ContentHasher(part_size=wanted.part_size))
        return ReadPlan(own, wanted, hashers, stored)

    def _read_verdict(
        self, expected: ObjectRecord, info: ObjectInfo, plan: ReadPlan, store: Store | None
    ) -> Verdict:
        """The verdict on bytes that were all hashed; `store`: where they were read from."""
        actual, size = info.record, plan.hashers[0].size
        if actual.size is not None and size != actual.size:
            return "unreadable", f"read {size} bytes of {actual.size}"
        path = store.local_path(actual.key) if store is not None else None
        if path is not None and changed_since(path, actual):
            return CHANGED
        return self._judge_content(expected, info, plan.own, plan.wanted, plan.hashers, plan.stored)

    def _judge_content(
        self,
        expected: ObjectRecord,
        info: ObjectInfo,
        own: Reference,
        wanted: Reference | None,
        hashers: list[ContentHasher],
        stored: dict[str, str],
    ) -> Verdict:
        hasher = hashers[0]
        etags = {each.part_size: each.etag() for each in hashers}
        verified = []
        own_checked = bool(own.etag) and not info.sse_kms
        if own_checked:
            computed = etags[own.part_size]
            if computed != own.etag:
                return (
                    "etag_mismatch",
                    f"content hashes to ETag {computed}, its stored ETag is {own.etag}",
                )
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
        done = f"read {hasher.size} bytes"
        if own.why:
            done += f" (its own ETag was not recomputed: {own.why})"
        if wanted is not None and wanted.etag is None:
            # Bytes that hash to their stored full-object checksum are the expected
            # object's when that checksum is the expected object's too.
            hashed = all(name in verified for name in full_object_checksums(info))
            fallback = self.compare_checksums(expected, info) if hashed else None
            if fallback is None:
                return "unverified", (
                    f"{done}, but not compared with the expected object: {wanted.why}"
                )
            if fallback[0] != "ok":
                return fallback
            verified.append("expected checksum")
        elif wanted is not None:
            computed = etags[wanted.part_size]
            if computed != wanted.etag:
                if info.sse_kms:
                    return "unverified", (
                        f"{done}; content hashes to ETag {computed}, the expected ETag is "
                        f"{wanted.etag}, but with SSE-KMS an ETag need not be an MD5"
                    )
                layout = f" in {wanted.part_size}-byte parts" if wanted.part_size else ""
                return "etag_mismatch", (
                    f"content hashes to ETag {computed}{layout}, the expected ETag is {wanted.etag}"
                )
            verified.append("expected etag" if own_checked else "etag")
        what = ", ".join(dict.fromkeys(verified)) or "size"
        return "ok", f"{done}; verified {what}"


def full_object_checksums(info: ObjectInfo) -> dict[str, str]:
    """The stored checksums that cover the whole content, so are comparable between two
    objects whatever their part layouts: CRC64NVME (S3 keeps it full-object only), any
    of a FULL_OBJECT type, and those of an object written in one piece."""
    single = etag_parts(info.record.etag) == 0 and info.checksum_type != "COMPOSITE"
    return {
        name: value
        for name, value in info.checksums.items()
        if name == "CRC64NVME" or info.checksum_type == "FULL_OBJECT" or single
    }


def _same_checksum(stored: str, computed: str) -> bool:
    """Equal values; a stored composite may omit its `-N` suffix (some servers do)."""
    if stored == computed:
        return True
    base, _, parts = computed.partition("-")
    return bool(parts) and stored == base
