"""The two kinds of store behind a Location: an S3 bucket and a local directory.

Both answer the same questions: list the keys below the location's prefix in S3
order (optionally after a key), describe one key (HEAD), and stream one key's
bytes. Keys given to and returned by a store are full keys (prefix included).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, Protocol

from lib.errors import FatalError
from lib.flush import FLUSH, Flush
from lib.local import list_directory
from lib.localpath import LocalRoot
from lib.location import Location
from lib.records import DataRecord, ObjectRecord, format_timestamp
from lib.retry import translate_error
from lib.s3 import ListingGuard, ListRequest, PagePrefetcher, parse_page

CHECKSUM_HEADERS = ("CRC64NVME", "CRC32C", "CRC32", "SHA256", "SHA1")
MISSING_CODES = ("404", "NoSuchKey", "NotFound", "NoSuchVersion")
MISSING_CODES = ("404", "NoSuchKey", "NotFound", "NoSuchVersion")


@dataclass
class ObjectInfo:
    """What HEAD tells about an object: its record, stored checksums, part count."""

    record: ObjectRecord
    checksums: dict[str, str] = field(default_factory=dict)
    checksum_type: str | None = None
    parts_count: int | None = None
    sse_kms: bool = False  # with SSE-KMS the ETag is not an MD5 of the content


class Store(Protocol):
    location: Location

    def list(self, start_after: str | None = None) -> Iterator[DataRecord | Flush]: ...

    def head(self, key: str, version_id: str | None = None) -> ObjectInfo | None: ...

    def local_path(self, key: str) -> str | None: ...


class S3Store:
    def __init__(self, client: Any, location: Location, *, page_size: int = 1000) -> None:
        self.client = client
        self.location = location
        self.page_size = page_size
        self.requests = 0

    def where(self, key: str | None = None) -> str:
        return f"s3://{self.location.bucket}/{self.location.prefix if key is None else key}"

    def check_bucket(self) -> None:
        """Fails fast (exit 3) when the bucket is missing or not ours to read."""
        try:
            self.client.head_bucket(Bucket=self.location.bucket)
        except Exception as exc:
            error = translate_error(exc, "HeadBucket", self.where(""))
            if isinstance(error, FatalError) and "404" in error.message:
                error = FatalError(
                    f"HeadBucket s3://{self.location.bucket} failed: NoSuchBucket",
                    hint="check the bucket name and --endpoint-url/--region",
                )
            raise error from None

    def list(
        self, start_after: str | None = None, *, versions: bool = False
    ) -> Iterator[DataRecord | Flush]:
        request = ListRequest(
            self.location.bucket,
            self.location.prefix,
            versions=versions,
            page_size=self.page_size,
            start_after=start_after,
        )
        return self.list_request(request)

    def list_request(self, request: ListRequest) -> Iterator[ObjectRecord | Flush]:
        prefetcher = PagePrefetcher(self.client, request)
        guard = ListingGuard(request, request.start_after)
        try:
            for body in prefetcher.pages():
                if body is FLUSH:
                    yield FLUSH
                else:
                    records = parse_page(body, request)
                    guard.check(records)
                    yield from records
        finally:
            self.requests += prefetcher.requests

    def head(self, key: str, version_id: str | None = None) -> ObjectInfo | None:
        """The object's metadata, or None if it does not exist."""
        response = self._head(key, version_id, ChecksumMode="ENABLED")
        return None if response is None else info_from_head(self.location.bucket, key, response)

    def part_layout(self, key: str, version_id: str | None = None) -> tuple[int, int | None] | None:
        """What `HEAD partNumber=1` says: the size of part 1 and the part count (None if
        the server gives none); None if the object does not exist."""
        response = self._head(key, version_id, PartNumber=1)
        if response is None:
            return None
        count = response.get("PartsCount")
        return int(response.get("ContentLength") or 0), int(count) if count else None

    def _head(self, key: str, version_id: str | None, **extra: Any) -> dict[str, Any] | None:
        import botocore.exceptions

        params: dict[str, Any] = {"Bucket": self.location.bucket, "Key": key, **extra}
        if version_id is not None:
            params["VersionId"] = version_id
        self.requests += 1
        try:
            response: dict[str, Any] = self.client.head_object(**params)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in MISSING_CODES:
                return None
            raise
        return response

    def open(self, key: str, version_id: str | None = None) -> IO[bytes]:
        params: dict[str, Any] = {"Bucket": self.location.bucket, "Key": key}
        if version_id is not None:
            params["VersionId"] = version_id
        self.requests += 1
        body: IO[bytes] = self.client.get_object(**params)["Body"]
        return body

    def local_path(self, key: str) -> str | None:
        return None


def info_from_head(bucket: str, key: str, response: dict[str, Any]) -> ObjectInfo:
    modified = response.get("LastModified")
    checksums = {
        name: response[f"Checksum{name}"]
        for name in CHECKSUM_HEADERS
        if response.get(f"Checksum{name}")
    }
    record = ObjectRecord(
        bucket=bucket,
        key=key,
        size=response.get("ContentLength"),
        etag=(response.get("ETag") or "").strip('"') or None,
        last_modified=format_timestamp(modified.timestamp())
        if isinstance(modified, datetime)
        else None,
        storage_class=response.get("StorageClass", "STANDARD"),
        version_id=response.get("VersionId"),
        checksum_algorithm=next(iter(checksums), None),
    )
    return ObjectInfo(
        record,
        checksums=checksums,
        checksum_type=response.get("ChecksumType"),
        parts_count=response.get("PartsCount"),
        sse_kms=str(response.get("ServerSideEncryption", "")).startswith("aws:kms"),
    )


class LocalStore:
    def __init__(self, location: Location) -> None:
        self.location = location
        self.requests = 0
        self._root = os.path.join(location.bucket, "")
        self._files = LocalRoot(location.bucket)

    def check_bucket(self) -> None:
        if not os.path.isdir(self.location.bucket):
            raise FatalError(f"{self.location.bucket} is not a directory")

    def list(self, start_after: str | None = None) -> Iterator[DataRecord | Flush]:
        after = start_after.encode("utf-8") if start_after is not None else None
        for _, record in list_directory(self.location.bucket, self.location.prefix, after):
            yield record

    def local_path(self, key: str) -> str:
        return self._root + key  # keys use "/", the separator of the systems we run on

    def head(self, key: str, version_id: str | None = None) -> ObjectInfo | None:
        """The file's metadata, or None; a key that leaves the directory or passes a
        symlink raises RefusedPath (an `error` record)."""
        info = self._files.stat(key)
        if info is None or not stat.S_ISREG(info.st_mode):
            return None
        return ObjectInfo(
            ObjectRecord(
                bucket=self.location.bucket,
                key=key,
                size=info.st_size,
                last_modified=format_timestamp(info.st_mtime),
            )
        )

    def open(self, key: str, version_id: str | None = None) -> IO[bytes]:
        return self._files.open(key)


def store_for(location: Location, client: Any) -> S3Store | LocalStore:
    """The store behind a location (an S3 client is needed for s3:// locations)."""
    return S3Store(client, location) if location.is_s3 else LocalStore(location)
