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
import mimetypes
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lib.localpath import LocalRoot
from lib.location import Location
from lib.transfer import (
    COPY_OBJECT_LIMIT,
    MIB,
    Buffers,
    Clients,
    Retrier,
    TransferError,
    Uploads,
    UploadState,
    multipart_etag,
    part_size_for,
)

CHUNK = MIB


@dataclass
class SourceInfo:
    size: int
    etag: str | None
    content_type: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    storage_class: str | None = None


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


@dataclass
class Side:
    """One end of a copy: a location and, for S3, its clients."""

    location: Location
    clients: Clients | None = None

    @property
    def local(self) -> LocalRoot:
        """A local directory's files, every key kept inside it (lib/localpath.py)."""
        return LocalRoot(self.location.bucket)


class Copier:
    def __init__(
        self,
        source: Side,
        target: Side,
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
        self.server_side = same_endpoint and source.location.is_s3 and target.location.is_s3
        self.part_size = part_size
        self.threshold = multipart_threshold
        self.part_pool = part_pool
        self.buffers = buffers
        self.uploads = uploads

    # --- what is at the source -----------------------------------------------------

    def describe(self, key: str, retrier: Retrier) -> SourceInfo | None:
        if not self.source.location.is_s3:
            found = self.source.local.stat(key)
            if found is None or not stat.S_ISREG(found.st_mode):
                return None
            return SourceInfo(found.st_size, None, mimetypes.guess_type(key)[0])
        import botocore.exceptions

        bucket = self.source.location.bucket
        assert self.source.clients is not None
        try:
            head = retrier.call(
                self.source.clients, 0, lambda c: c.head_object(Bucket=bucket, Key=key)
            )
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return SourceInfo(
            size=int(head["ContentLength"]),
            etag=str(head.get("ETag", "")).strip('"') or None,
            content_type=head.get("ContentType"),
            metadata=dict(head.get("Metadata") or {}),
            storage_class=head.get("StorageClass"),
        )

    def planned_action(self, size: int | None) -> str:
        large = size is not None and size > self._threshold()
        if self.server_side:
            return "multipart_copy" if large else "copy"
        if self.target.location.is_s3:
            return "multipart_upload" if large else "upload"
        return "download" if self.source.location.is_s3 else "copy"

    def _threshold(self) -> int:
        if self.threshold is not None:
            return min(self.threshold, COPY_OBJECT_LIMIT)
        return COPY_OBJECT_LIMIT if self.server_side else self.part_size

    # --- copying ---------------------------------------------------------------------

    def copy(self, source_key: str, target_key: str, info: SourceInfo, retrier: Retrier) -> Copied:
        action = self.planned_action(info.size)
        if action == "copy" and self.server_side:
            return self._copy_object(source_key, target_key, info, retrier)
        if action in ("multipart_copy", "multipart_upload"):
            return self._multipart(source_key, target_key, info, retrier, action)
        if action == "upload":
            with self.buffers.hold():
                data = b"".join(self._read(source_key, 0, info.size, retrier))
            assert self.target.clients is not None
            params = self._create_params(target_key, info)
            response = retrier.call(
                self.target.clients, len(data), lambda c: c.put_object(Body=data, **params)
            )
            md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
            return Copied(action, len(data), md5, _unquoted(response.get("ETag")))
        size, md5 = self.target.local.write(
            target_key, self._read(source_key, 0, info.size, retrier)
        )
        return Copied(action, size, md5)

    def _copy_object(
        self, source_key: str, target_key: str, info: SourceInfo, retrier: Retrier
    ) -> Copied:
        assert self.target.clients is not None
        params: dict[str, Any] = {
            "Bucket": self.target.location.bucket,
            "Key": target_key,
            "CopySource": {"Bucket": self.source.location.bucket, "Key": source_key},
            "MetadataDirective": "COPY",
        }
        if info.storage_class and info.storage_class != "STANDARD":
            params["StorageClass"] = info.storage_class
        response = retrier.call(self.target.clients, info.size, lambda c: c.copy_object(**params))
        etag = _unquoted(response.get("CopyObjectResult", {}).get("ETag"))
        single_part_source = info.etag is not None and "-" not in info.etag
        return Copied("copy", info.size, info.etag if single_part_source else etag, etag)

    def _create_params(self, target_key: str, info: SourceInfo) -> dict[str, Any]:
        params: dict[str, Any] = {"Bucket": self.target.location.bucket, "Key": target_key}
        if info.content_type:
            params["ContentType"] = info.content_type
        if info.metadata:
            params["Metadata"] = info.metadata
        if info.storage_class and info.storage_class != "STANDARD":
            params["StorageClass"] = info.storage_class
        return params

    def _multipart(
        self, source_key: str, target_key: str, info: SourceInfo, retrier: Retrier, action: str
    ) -> Copied:
        clients = self.target.clients
        assert clients is not None
        bucket = self.target.location.bucket
        state = self._open_upload(target_key, info, retrier)
        size, part_size = info.size, state.part_size
        count = max(1, -(-size // part_size))

        def send(number: int) -> str:
            start = (number - 1) * part_size
            end = min(size, start + part_size)
            common = {"Bucket": bucket, "Key": target_key, "UploadId": state.upload_id,
                      "PartNumber": number}  # fmt: skip
            if action == "multipart_copy":
                source = {"Bucket": self.source.location.bucket, "Key": source_key}
                response = retrier.call(
                    clients,
                    end - start,
                    lambda c: c.upload_part_copy(
                        CopySource=source, CopySourceRange=f"bytes={start}-{end - 1}", **common
                    ),
                )
                etag = str(response["CopyPartResult"]["ETag"]).strip('"')
            else:
                with self.buffers.hold():
                    data = b"".join(self._read(source_key, start, end - start, retrier))
                    response = retrier.call(
                        clients, len(data), lambda c: c.upload_part(Body=data, **common)
                    )
                    etag = str(response["ETag"]).strip('"')
                    if etag != hashlib.md5(data, usedforsecurity=False).hexdigest():
                        raise TransferError(f"part {number} arrived damaged (ETag {etag})")
            self.uploads.part_done(target_key, number, etag)
            return etag

        missing = [n for n in range(1, count + 1) if str(n) not in state.parts]
        futures = {n: self.part_pool.submit(send, n) for n in missing}
        try:
            for future in futures.values():
                future.result()
        except BaseException:
            for future in futures.values():
                future.cancel()
            raise
        etags = [state.parts[str(n)] for n in range(1, count + 1)]
        parts = [{"PartNumber": n, "ETag": f'"{etag}"'} for n, etag in enumerate(etags, 1)]
        retrier.call(clients, 0, lambda c: c.complete_multipart_upload(
            Bucket=bucket, Key=target_key, UploadId=state.upload_id,
            MultipartUpload={"Parts": parts}))  # fmt: skip
        self.uploads.finish(target_key)
        return Copied(action, size, multipart_etag(etags))

    def _open_upload(self, target_key: str, info: SourceInfo, retrier: Retrier) -> UploadState:
        """The upload to continue (its parts confirmed with ListParts), or a new one."""
        clients = self.target.clients
        assert clients is not None
        bucket = self.target.location.bucket
        state = self.uploads.get(target_key)
        if state is not None:
            upload_id = state.upload_id
            try:
                listed = retrier.call(clients, 0, lambda c: c.list_parts(
                    Bucket=bucket, Key=target_key, UploadId=upload_id))  # fmt: skip
                count = max(1, -(-info.size // state.part_size))
                last_size = info.size - (count - 1) * state.part_size
                state.parts = {
                    str(part["PartNumber"]): str(part["ETag"]).strip('"')
                    for part in listed.get("Parts", [])
                    if part["Size"]
                    == (last_size if part["PartNumber"] == count else state.part_size)
                }
                return state
            except Exception:
                self.uploads.finish(target_key)  # gone or unusable: start again
        part_size = part_size_for(info.size, self.part_size)
        response = retrier.call(clients, 0, lambda c: c.create_multipart_upload(
            **self._create_params(target_key, info)))  # fmt: skip
        state = UploadState(upload_id=str(response["UploadId"]), part_size=part_size)
        self.uploads.start(target_key, state)
        return state

    def abort(self, target_key: str, retrier: Retrier) -> None:
        """Gives up an open upload, so no orphaned parts keep costing money."""
        state = self.uploads.get(target_key)
        if state is None or self.target.clients is None:
            return
        bucket = self.target.location.bucket
        try:
            retrier.call(self.target.clients, 0, lambda c: c.abort_multipart_upload(
                Bucket=bucket, Key=target_key, UploadId=state.upload_id))  # fmt: skip
        finally:
            self.uploads.finish(target_key)

    def _read(self, key: str, start: int, length: int, retrier: Retrier) -> Iterator[bytes]:
        """The bytes [start, start+length) of a source object, in chunks."""
        if length == 0:
            return
        if not self.source.location.is_s3:
            with self.source.local.open(key) as handle:
                handle.seek(start)
                remaining = length
                while remaining > 0:
                    chunk = handle.read(min(CHUNK, remaining))
                    if not chunk:
                        raise TransferError(f"{key} is shorter than expected")
                    remaining -= len(chunk)
                    yield chunk
            return
        clients = self.source.clients
        assert clients is not None
        bucket = self.source.location.bucket
        step = max(CHUNK, self.part_size)
        for offset in range(start, start + length, step):
            size = min(step, start + length - offset)
            span = f"bytes={offset}-{offset + size - 1}"

            def fetch_piece(client: Any, span: str = span, expected: int = size) -> bytes:
                body = client.get_object(Bucket=bucket, Key=key, Range=span)["Body"]
                try:
                    data: bytes = body.read()
                finally:
                    body.close()
                if len(data) != expected:
                    raise TransferError(f"{key}: read {len(data)} bytes of {expected}")
                return data

            yield retrier.call(clients, size, fetch_piece)


def _unquoted(etag: object) -> str | None:
    return str(etag or "").strip('"') or None
