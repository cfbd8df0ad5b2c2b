"""The per-object requests of the S3 store: the seam for a faster request engine.

`S3Store` (lib/stores/s3store.py) sends every request about one object's content or
metadata through one `ObjectRequests`: HEAD, GET (a stream, or a byte range read
whole), PUT, CopyObject, UploadPart and UploadPartCopy. Each method is one request;
retries and timeouts are the caller's (a `Retrier` picks `client`, a botocore client
with the timeout it wants, and calls again on a retryable error). These bodies use
botocore; an engine that replaces them keeps the signatures and answers.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import IO, Any, Protocol

from lib.stores.transfer import TransferError

MISSING_CODES = ("404", "NoSuchKey", "NotFound", "NoSuchVersion")


class Sink(Protocol):
    """Where get_async writes a body, chunk by chunk (lib/stores/crt/calls.py's Sink);
    write returns False to take no more (the GET then fails, not retried)."""

    def write(self, chunk: bytes) -> bool | None: ...

    def reset(self) -> None:
        """Forget what was written: the body is about to be sent again (a retry)."""


class ObjectRequests:
    """One request about one object each; `client` is the botocore client to send it
    with (the store's own, or one with the timeout a Retrier chose). HEAD answers
    botocore's response dict (None: no such object); the others what the copier needs.

    `head_async` exists where HEADs need no thread each (`asynchronous`: the request
    engine of lib/stores/crt); botocore's blocking calls do not have it."""

    asynchronous = False

    def head_async(
        self, client: Any, bucket: str, key: str, version_id: str | None = None, **extra: Any
    ) -> concurrent.futures.Future[Any]:
        """head() as a future; `read=` (a function of head()'s answer) makes it a future
        of what read makes of that (with `raw=True`, of the response headers), `failed=`
        (a function of the error) what a failure ends it with."""
        raise NotImplementedError("botocore's requests block: call head() on a thread")

    def get_async(
        self,
        client: Any,
        bucket: str,
        key: str,
        version_id: str | None,
        sink: Sink,
        *,
        read: Callable[[dict[str, str] | None], Any] | None = None,
        failed: Callable[[Exception], Any] | None = None,
    ) -> concurrent.futures.Future[Any]:
        """The whole object, its body written to `sink`, with its stored checksums; None:
        no such object. Where `asynchronous` only, as head_async (`read=` of the response
        headers, `failed=` of the error)."""
        raise NotImplementedError("botocore's requests block: call get() on a thread")

    def head(
        self, client: Any, bucket: str, key: str, version_id: str | None = None, **extra: Any
    ) -> dict[str, Any] | None:
        import botocore.exceptions

        params: dict[str, Any] = {"Bucket": bucket, "Key": key, **extra}
        if version_id is not None:
            params["VersionId"] = version_id
        try:
            response: dict[str, Any] = client.head_object(**params)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in MISSING_CODES:
                return None
            raise
        return response

    def get(self, client: Any, bucket: str, key: str, version_id: str | None = None) -> IO[bytes]:
        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id is not None:
            params["VersionId"] = version_id
        body: IO[bytes] = client.get_object(**params)["Body"]
        return body

    def get_range(self, client: Any, bucket: str, key: str, start: int, length: int) -> bytes:
        span = f"bytes={start}-{start + length - 1}"
        body = client.get_object(Bucket=bucket, Key=key, Range=span)["Body"]
        try:
            data: bytes = body.read()
        finally:
            body.close()
        if len(data) != length:
            raise TransferError(f"{key}: read {len(data)} bytes of {length}")
        return data

    def put(self, client: Any, params: dict[str, Any], data: bytes) -> str | None:
        return unquoted(client.put_object(Body=data, **params).get("ETag"))

    def copy_async(
        self, client: Any, params: dict[str, Any]
    ) -> concurrent.futures.Future[str | None]:
        """copy() as a future, where `asynchronous`."""
        raise NotImplementedError("botocore's requests block: call copy() on a thread")

    def copy(self, client: Any, params: dict[str, Any]) -> str | None:
        response = client.copy_object(**params)
        return unquoted(response.get("CopyObjectResult", {}).get("ETag"))

    def upload_part(self, client: Any, part: dict[str, Any], data: bytes) -> str:
        return str(client.upload_part(Body=data, **part)["ETag"]).strip('"')

    def upload_part_copy(
        self, client: Any, part: dict[str, Any], source: dict[str, str], span: tuple[int, int]
    ) -> str:
        start, end = span
        response = client.upload_part_copy(
            CopySource=source, CopySourceRange=f"bytes={start}-{end - 1}", **part
        )
        return str(response["CopyPartResult"]["ETag"]).strip('"')


def unquoted(etag: object) -> str | None:
    """An ETag without the quotes S3 puts around it; None for none."""
    return str(etag or "").strip('"') or None
