"""Copying one object from a source store to a target store, the cheapest way there is.

- S3 to S3 on one endpoint: server-side CopyObject, or UploadPartCopy in parallel
  parts above the multipart threshold (CopyObject stops at 5 GiB).
- Anything to S3 otherwise: PutObject, or a streamed multipart upload with a
  bounded number of part buffers, so memory does not grow with the object.
- Anything to a local directory: streamed into a temp file, fsynced, renamed.

Multipart uploads are registered in `Uploads` as they start and as each part
lands, so a resumed run lists the parts already there and sends only the rest.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from lib.engine.window import then
from lib.pipelines.multipart import Multipart, PartSender
from lib.stores.protocol import Part, SourceInfo, Span, Store
from lib.stores.s3store import S3Store
from lib.stores.transfer import (
    COPY_OBJECT_LIMIT,
    Buffers,
    Retrier,
    Timeouts,
    TransferError,
    Uploads,
)

__all__ = ["Copied", "Copier", "SourceInfo"]


@dataclass
class Copied:
    action: str
    bytes: int
    etag: str | None  # the ETag the target should now have, when known
    reported_etag: str | None = None  # the ETag the server says it wrote (PUT, CopyObject)

    def confirmed(self) -> bool:
        """The server's answer already proves the bytes: it reports the MD5 we expected
        (a single-part ETag), so a HEAD after the write would tell nothing new."""
        etag = self.etag
        return etag is not None and "-" not in etag and self.reported_etag == etag


class Copier:
    """Plans each copy (which strategy its size and the two stores allow) and runs it."""

    def __init__(
        self,
        source: Store,
        target: Store,
        *,
        same_endpoint: bool,
        part_size: int,
        multipart_threshold: int | None,
        part_pool: concurrent.futures.Executor,
        buffers: Buffers,
        uploads: Uploads,
    ) -> None:
        self.source = source
        self.target = target
        self.server_side = same_endpoint and target.can_copy_from(source)
        self.part_size = part_size
        self.threshold = multipart_threshold
        self.buffers = buffers
        self.uploads = uploads
        self.multipart = Multipart(target, uploads, part_pool, part_size)

    # --- what is at the source -----------------------------------------------------

    def describe(self, key: str, retrier: Retrier) -> SourceInfo | None:
        return self.source.describe(key, retrier)

    # --- the plan --------------------------------------------------------------------

    def planned_action(self, size: int | None) -> str:
        large = size is not None and size > self._threshold()
        if self.server_side:
            return "multipart_copy" if large else "copy"
        if self.target.multipart:
            return "multipart_upload" if large else "upload"
        return "download" if self.source.remote else "copy"

    def copies_whole(self, size: int) -> bool:
        """Whether the object is copied by one server-side CopyObject, which carries its
        content type and metadata over itself: then its size and ETag are all the copy
        needs to know of it."""
        return self.server_side and self.planned_action(size) == "copy"

    def copy_async(
        self, source_key: str, target_key: str, info: SourceInfo, timeouts: Timeouts
    ) -> concurrent.futures.Future[Copied] | None:
        """One attempt of a whole server-side copy as a future, without a thread (the
        request engine's); None where the target's requests block (then copy())."""
        target = self.target
        if not (
            isinstance(target, S3Store) and target.asynchronous and self.copies_whole(info.size)
        ):
            return None
        timeout = timeouts.timeout(info.size, 1)
        etag = target.copy_from_async(self.source, source_key, target_key, info, timeout)
        return then(etag, lambda reported: _copied(info, reported))

    def _threshold(self) -> int:
        if self.threshold is not None:
            return min(self.threshold, COPY_OBJECT_LIMIT)
        return COPY_OBJECT_LIMIT if self.server_side else self.part_size

    # --- the strategies --------------------------------------------------------------

    def copy(self, source_key: str, target_key: str, info: SourceInfo, retrier: Retrier) -> Copied:
        action = self.planned_action(info.size)
        if action == "copy" and self.server_side:
            return self._copy_object(source_key, target_key, info, retrier)
        if action == "multipart_copy":
            etag = self.multipart.transfer(
                target_key, info, retrier, self._part_copier(source_key, target_key, retrier)
            )
            return Copied(action, info.size, etag)
        if action == "multipart_upload":
            etag = self.multipart.transfer(
                target_key, info, retrier, self._part_uploader(source_key, target_key, retrier)
            )
            return Copied(action, info.size, etag)
        chunks = self._read(source_key, 0, info.size, retrier)
        if action == "upload":
            with self.buffers.hold():  # one request carries the whole object: read it first
                data = b"".join(chunks)
            chunks = iter((data,))
        written = self.target.put(target_key, chunks, info, retrier)  # a file: streamed
        return Copied(action, written.size, written.md5, written.reported_etag)

    def _copy_object(
        self, source_key: str, target_key: str, info: SourceInfo, retrier: Retrier
    ) -> Copied:
        return _copied(
            info, self.target.copy_from(self.source, source_key, target_key, info, retrier)
        )

    def _part_copier(self, source_key: str, target_key: str, retrier: Retrier) -> PartSender:
        def send(upload_id: str, number: int, start: int, end: int) -> str:
            part = Part(target_key, upload_id, number)
            return self.target.upload_part_copy(
                part, self.source, Span(source_key, start, end), retrier
            )

        return send

    def _part_uploader(self, source_key: str, target_key: str, retrier: Retrier) -> PartSender:
        def send(upload_id: str, number: int, start: int, end: int) -> str:
            with self.buffers.hold():
                data = b"".join(self._read(source_key, start, end - start, retrier))
                etag = self.target.upload_part(Part(target_key, upload_id, number), data, retrier)
                if etag != hashlib.md5(data, usedforsecurity=False).hexdigest():
                    raise TransferError(f"part {number} arrived damaged (ETag {etag})")
            return etag

        return send

    def abort(self, target_key: str, retrier: Retrier) -> None:
        """Gives up an open upload, so no orphaned parts keep costing money."""
        self.multipart.abort(target_key, retrier)

    def _read(self, key: str, start: int, length: int, retrier: Retrier) -> Iterator[bytes]:
        """The bytes [start, start+length) of a source object, in chunks."""
        if length == 0:
            return iter(())
        return self.source.read(key, start, length, retrier, piece=self.part_size)


def _copied(info: SourceInfo, reported: str | None) -> Copied:
    """A whole CopyObject's outcome: a single-part source's MD5 is the copy's too."""
    single_part_source = info.etag is not None and "-" not in info.etag
    return Copied("copy", info.size, info.etag if single_part_source else reported, reported)
