"""What the engine can be asked: one method per S3 operation, each building a `Call`.

`Operations` is the engine's public face (lib/stores/crt/engine.py's `Engine` is one):
HEAD, GET, PUT, CopyObject, UploadPart and UploadPartCopy, each returning a Future of
the dict botocore returns for it, and a blocking twin of each.
"""

from __future__ import annotations

import concurrent.futures
import io
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from lib.stores.crt.addressing import Source
from lib.stores.crt.answers import Answer, copy_response, object_response, put_response
from lib.stores.crt.calls import NO_LIMITS, Call, Limits, Reader, Sink, Upload


class Operations:
    def submit(self, call: Call, limits: Limits = NO_LIMITS) -> concurrent.futures.Future[Any]:
        raise NotImplementedError

    def head_async(
        self,
        bucket: str,
        key: str,
        *,
        version_id: str | None = None,
        part_number: int | None = None,
        checksum_mode: bool = True,
        limits: Limits = NO_LIMITS,
    ) -> concurrent.futures.Future[dict[str, Any]]:
        """HeadObject: the dict botocore's head_object returns (a 404 is a ClientError)."""
        call = head_call(bucket, key, version_id, part_number, checksum_mode)
        return self.submit(call, limits)

    def get_async(
        self,
        bucket: str,
        key: str,
        *,
        version_id: str | None = None,
        byte_range: tuple[int, int] | None = None,
        sink: Sink | None = None,
        checksum_mode: bool = False,
        if_match: str | None = None,
        limits: Limits = NO_LIMITS,
        if_missing: Callable[[], Any] | None = None,
        read: Reader | None = None,
        if_failed: Callable[[Exception], Any] | None = None,
    ) -> concurrent.futures.Future[Any]:
        """GetObject, whole or bytes [start, end] (inclusive); the body goes to `sink`
        if given, else into the answer's "Body" (a file object). No such object: what
        `if_missing` returns, if given, else the error. `read` (of the Answer) and
        `if_failed` (of the error) make the result instead, as a Call's do."""
        headers = [("x-amz-checksum-mode", "ENABLED")] if checksum_mode else []
        if if_match is not None:
            headers.append(("If-Match", if_match))
        nbytes = 0
        if byte_range is not None:
            headers.append(("Range", f"bytes={byte_range[0]}-{byte_range[1]}"))
            nbytes = byte_range[1] - byte_range[0] + 1
        query = _query(versionId=version_id)
        call = Call("GetObject", "GET", bucket, key, read or _with_body, query)
        call.headers, call.sink, call.nbytes = headers, sink, nbytes
        call.if_missing, call.if_failed = if_missing, if_failed
        return self.submit(call, limits)

    def put_async(
        self,
        bucket: str,
        key: str,
        body: bytes,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        storage_class: str | None = None,
        content_md5: str | None = None,
        limits: Limits = NO_LIMITS,
    ) -> concurrent.futures.Future[dict[str, Any]]:
        """PutObject of `body`; `content_md5` (base64) makes the server check it."""
        headers = _object_headers(content_type, metadata, storage_class)
        if content_md5 is not None:
            headers.append(("Content-MD5", content_md5))
        call = Call("PutObject", "PUT", bucket, key, put_response, "", headers, body)
        return self.submit(call, limits)

    def copy_async(
        self,
        bucket: str,
        key: str,
        source: Source,
        *,
        metadata_directive: str = "COPY",
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        storage_class: str | None = None,
        nbytes: int = 0,
        limits: Limits = NO_LIMITS,
    ) -> concurrent.futures.Future[dict[str, Any]]:
        """CopyObject; the answer has CopyObjectResult.ETag. A 200 with <Error> fails."""
        headers = [
            ("x-amz-copy-source", source.header()),
            ("x-amz-metadata-directive", metadata_directive),
        ]
        headers += _object_headers(content_type, metadata, storage_class)
        call = Call("CopyObject", "PUT", bucket, key, _copied_object, "", headers)
        call.error_in_200, call.nbytes = True, nbytes
        return self.submit(call, limits)

    def upload_part_async(
        self, upload: Upload, number: int, body: bytes, *, limits: Limits = NO_LIMITS
    ) -> concurrent.futures.Future[dict[str, Any]]:
        """UploadPart; the answer has the part's ETag."""
        query = _query(partNumber=number, uploadId=upload.upload_id)
        call = Call("UploadPart", "PUT", upload.bucket, upload.key, put_response, query, [], body)
        return self.submit(call, limits)

    def upload_part_copy_async(
        self,
        upload: Upload,
        number: int,
        source: Source,
        byte_range: tuple[int, int],
        *,
        limits: Limits = NO_LIMITS,
    ) -> concurrent.futures.Future[dict[str, Any]]:
        """UploadPartCopy of source bytes [start, end]; the answer has CopyPartResult.ETag."""
        headers = [
            ("x-amz-copy-source", source.header()),
            ("x-amz-copy-source-range", f"bytes={byte_range[0]}-{byte_range[1]}"),
        ]
        query = _query(partNumber=number, uploadId=upload.upload_id)
        call = Call(
            "UploadPartCopy", "PUT", upload.bucket, upload.key, _copied_part, query, headers
        )
        call.error_in_200, call.nbytes = True, byte_range[1] - byte_range[0] + 1
        return self.submit(call, limits)

    def head(self, bucket: str, key: str, **options: Any) -> dict[str, Any]:
        return self.head_async(bucket, key, **options).result()

    def get(self, bucket: str, key: str, **options: Any) -> dict[str, Any]:
        answer: dict[str, Any] = self.get_async(bucket, key, **options).result()
        return answer

    def put(self, bucket: str, key: str, body: bytes, **options: Any) -> dict[str, Any]:
        return self.put_async(bucket, key, body, **options).result()

    def copy(self, bucket: str, key: str, source: Source, **options: Any) -> dict[str, Any]:
        return self.copy_async(bucket, key, source, **options).result()

    def upload_part(self, *args: Any, **options: Any) -> dict[str, Any]:
        return self.upload_part_async(*args, **options).result()

    def upload_part_copy(self, *args: Any, **options: Any) -> dict[str, Any]:
        return self.upload_part_copy_async(*args, **options).result()


def head_call(
    bucket: str, key: str, version_id: str | None, part_number: int | None, checksum_mode: bool
) -> Call:
    """The HeadObject call of head_async, for a caller that sets its reader (and what a
    missing object answers) before submitting it."""
    headers = [("x-amz-checksum-mode", "ENABLED")] if checksum_mode else []
    query = ""  # the usual HEAD (per object, in bulk): neither a version nor a part
    if version_id is not None or part_number is not None:
        query = _query(versionId=version_id, partNumber=part_number)
    return Call("HeadObject", "HEAD", bucket, key, object_response, query, headers)


def _query(**params: str | int | None) -> str:
    """The query string of the given parameters (None: left out), in the order given."""
    given = [(name, value) for name, value in params.items() if value is not None]
    if not given:
        return ""  # most requests: no versions, no parts
    return "&".join(f"{name}={quote(str(value), safe='~')}" for name, value in given)


def _object_headers(
    content_type: str | None, metadata: dict[str, str] | None, storage_class: str | None
) -> list[tuple[str, str]]:
    headers = [(f"x-amz-meta-{name}", value) for name, value in (metadata or {}).items()]
    if content_type:
        headers.append(("Content-Type", content_type))
    if storage_class and storage_class != "STANDARD":
        headers.append(("x-amz-storage-class", storage_class))
    return headers


def _with_body(answer: Answer) -> dict[str, Any]:
    response = object_response(answer)
    response["Body"] = io.BytesIO(answer.body)
    return response


def _copied_object(answer: Answer) -> dict[str, Any]:
    return copy_response(answer, "CopyObjectResult")


def _copied_part(answer: Answer) -> dict[str, Any]:
    return copy_response(answer, "CopyPartResult")
