"""S3 answers read into the shapes botocore gives, so callers need not know the engine.

Errors become botocore `ClientError`s with the same `response` dict (Error.Code,
Error.Message, ResponseMetadata.HTTPStatusCode), so lib/leaves/retry.py's vocabulary
(retryable, throttling, credential codes, describe) judges them unchanged.
"""

from __future__ import annotations

import functools
import http.client
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

CHECKSUM_NAMES = ("CRC64NVME", "CRC32C", "CRC32", "SHA256", "SHA1")
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_ERROR_ROOT = re.compile(rb"^\s*(?:<\?xml[^>]*\?>\s*)?<Error>")
_FIELD = re.compile(rb"<(Code|Message|Region|Endpoint|BucketName|Key)>([^<]*)</\1>")
_ETAG = re.compile(rb"<ETag>([^<]*)</ETag>")
_LAST_MODIFIED = re.compile(rb"<LastModified>([^<]*)</LastModified>")


@dataclass
class Answer:
    """One HTTP response: status, headers (names in lower case), the body if kept."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def header_dict(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Response headers by lower-case name; a repeated one's values joined with commas."""
    headers = {name.lower(): value for name, value in pairs}
    if len(headers) == len(pairs):
        return headers  # the usual answer: no name repeated
    headers = {}
    for name, value in pairs:
        name = name.lower()
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


@functools.lru_cache(maxsize=1024)
def http_date(text: str | None) -> datetime | None:
    """`Mon, 30 Nov 2026 16:19:03 GMT` as an aware datetime (None if it is not one).
    Cached: objects written together share their Last-Modified second, and a HEAD per
    object reads one each (datetimes are immutable)."""
    if not text:
        return None
    try:
        _, day, month, year, clock, _ = text.split()
        hour, minute, second = clock.split(":")
        return datetime(
            int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second), tzinfo=UTC
        )
    except (ValueError, KeyError):
        return None


def _unescape(value: bytes) -> str:
    import html

    return html.unescape(value.decode("utf-8", "replace"))


def is_error_body(body: bytes) -> bool:
    """A body whose root element is <Error>: S3's way to fail a copy after answering 200."""
    return _ERROR_ROOT.match(body[:512]) is not None


def client_error(answer: Answer, operation: str) -> Exception:
    """The botocore ClientError for an error answer, its code read from the XML body
    (or, for a HEAD, which has no body, the HTTP status as botocore gives it)."""
    import botocore.exceptions

    fields = {name.decode(): _unescape(value) for name, value in _FIELD.findall(answer.body)}
    error: dict[str, Any] = dict(fields)
    if "Code" not in error:
        error["Code"] = str(answer.status)
        error.setdefault("Message", http.client.responses.get(answer.status, ""))
    response: dict[str, Any] = {
        "Error": error,
        "ResponseMetadata": {"HTTPStatusCode": answer.status, "HTTPHeaders": answer.headers},
    }
    error_class: type[Exception] = botocore.exceptions.ClientError
    return error_class(response, operation)


def _common(answer: Answer) -> dict[str, Any]:
    headers = answer.headers
    response: dict[str, Any] = {
        "ResponseMetadata": {"HTTPStatusCode": answer.status, "HTTPHeaders": headers}
    }
    etag = headers.get("etag")
    if etag is not None:
        response["ETag"] = etag
    version = headers.get("x-amz-version-id")
    if version is not None:
        response["VersionId"] = version
    return response


# Response headers -> botocore's field names, for HeadObject and GetObject.
_OBJECT_FIELDS = {
    "etag": "ETag",
    "x-amz-version-id": "VersionId",
    "content-length": "ContentLength",
    "last-modified": "LastModified",
    "content-type": "ContentType",
    "content-encoding": "ContentEncoding",
    "content-range": "ContentRange",
    "x-amz-storage-class": "StorageClass",
    "x-amz-server-side-encryption": "ServerSideEncryption",
    "x-amz-checksum-type": "ChecksumType",
    "x-amz-mp-parts-count": "PartsCount",
    **{f"x-amz-checksum-{name.lower()}": f"Checksum{name}" for name in CHECKSUM_NAMES},
}
_META = "x-amz-meta-"


def object_response(answer: Answer) -> dict[str, Any]:
    """What HeadObject (and GetObject, less the body) returns in botocore."""
    metadata: dict[str, str] = {}
    response: dict[str, Any] = {
        "ResponseMetadata": {"HTTPStatusCode": answer.status, "HTTPHeaders": answer.headers},
        "Metadata": metadata,
    }
    fields = _OBJECT_FIELDS
    for name, value in answer.headers.items():
        field_name = fields.get(name)
        if field_name is not None:
            if value:
                response[field_name] = value
        elif name.startswith(_META):
            metadata[name[len(_META) :]] = value
    if "ContentLength" in response:
        response["ContentLength"] = int(response["ContentLength"])
    if "PartsCount" in response:
        response["PartsCount"] = int(response["PartsCount"])
    if "LastModified" in response:
        modified = http_date(response["LastModified"])
        if modified is None:
            del response["LastModified"]
        else:
            response["LastModified"] = modified
    return response


def put_response(answer: Answer) -> dict[str, Any]:
    """PutObject's and UploadPart's answer: the ETag (quoted, as botocore gives it)."""
    return _common(answer)


def copy_response(answer: Answer, result: str) -> dict[str, Any]:
    """CopyObject's (`CopyObjectResult`) or UploadPartCopy's (`CopyPartResult`) answer."""
    response = _common(answer)
    response.pop("ETag", None)  # the copy's ETag is in the body
    copied: dict[str, Any] = {}
    etag = _ETAG.search(answer.body)
    if etag is not None:
        copied["ETag"] = _unescape(etag.group(1))
    modified = _LAST_MODIFIED.search(answer.body)
    if modified is not None:
        copied["LastModified"] = _unescape(modified.group(1))
    response[result] = copied
    return response
