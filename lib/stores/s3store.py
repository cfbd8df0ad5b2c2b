"""The S3 implementation of the Store (lib/stores/protocol.py), over botocore.

Listing, bucket checks, multipart bookkeeping (create, list parts, complete, abort)
and DeleteObjects (lib/stores/s3delete.py) use botocore here. The per-object requests
(HEAD, GET, ranged GET, PUT, CopyObject, UploadPart, UploadPartCopy) go through
`ObjectRequests` (lib/stores/s3requests.py), the one place a faster request engine replaces.
"""

from __future__ import annotations

import builtins
import concurrent.futures
import functools
import hashlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import IO, Any

from lib.engine.shard import Shard
from lib.leaves.errors import FatalError
from lib.leaves.flush import FLUSH, Flush
from lib.leaves.location import Location
from lib.leaves.records import DataRecord, ObjectRecord, format_timestamp
from lib.leaves.retry import translate_error
from lib.stores.protocol import (
    Deletion,
    ListSpec,
    ObjectInfo,
    Part,
    SourceInfo,
    Span,
    Store,
    Window,
    Written,
)
from lib.stores.ranges import KeyRange, ParallelLister, shard_range
from lib.stores.s3 import ListingGuard, ListRequest, PagePrefetcher, next_params, parse_page
from lib.stores.s3delete import delete_objects
from lib.stores.s3requests import ObjectRequests, Sink, unquoted
from lib.stores.transfer import MIB, Clients, Retrier

CHECKSUM_HEADERS = ("CRC64NVME", "CRC32C", "CRC32", "SHA256", "SHA1")
_CHECKSUM_FIELDS = tuple((name, f"Checksum{name}") for name in CHECKSUM_HEADERS)
CHUNK = MIB


class _OneClient:
    """The `Clients` of a store built without per-timeout clients: always its own."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def get(self, timeout_s: float) -> Any:
        return self.client


class S3Store:
    remote = True
    multipart = True

    def __init__(
        self,
        client: Any,
        location: Location,
        *,
        page_size: int = 1000,
        clients: Clients | None = None,
        objects: ObjectRequests | None = None,
    ) -> None:
        self.client = client
        self.location = location
        self.page_size = page_size
        self.requests = 0
        self.clients: Clients | _OneClient = clients or _OneClient(client)  # for transfers
        self.objects = objects or ObjectRequests()

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

    def versioned(self) -> bool:
        """Whether deletions without a version id leave delete markers (unknown: no)."""
        try:
            status = self.client.get_bucket_versioning(Bucket=self.location.bucket).get("Status")
        except Exception:
            status = None
        return status in ("Enabled", "Suspended")

    # --- listing --------------------------------------------------------------------

    def list(
        self, start_after: str | None = None, *, streams: int = 1, page_size: int | None = None
    ) -> Iterator[DataRecord | Flush]:
        request = ListRequest(
            self.location.bucket,
            self.location.prefix,
            page_size=page_size or self.page_size,
            start_after=start_after,
        )
        if streams > 1:
            return iter(ParallelLister(self.client, request, streams, KeyRange(after=start_after)))
        return self._list_request(request)

    def _list_request(self, request: ListRequest) -> Iterator[ObjectRecord | Flush]:
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

    def listing(self, spec: ListSpec, resume: dict[str, Any]) -> S3Listing:
        return S3Listing(self, spec, resume)

    def list_page(self, start_after: str | None) -> tuple[builtins.list[ObjectRecord], bool]:
        """One page of the listing after `start_after` (the prefix's first if None): its
        records, checked in key order, and whether more follow."""
        request = ListRequest(
            self.location.bucket,
            self.location.prefix,
            page_size=self.page_size,
            start_after=start_after,
        )
        params = request.params()
        fetcher = PagePrefetcher(self.client, request)
        try:
            body = fetcher.fetch(params)
        finally:
            self.requests += fetcher.requests
        records = parse_page(body, request)
        ListingGuard(request, start_after).check(records)
        return records, next_params(request, params, body) is not None

    def shard_bounds(self, shard: Shard, page_size: int) -> KeyRange:
        request = ListRequest(self.location.bucket, self.location.prefix, page_size=page_size)
        return shard_range(self.client, request, shard.index, shard.count)

    # --- one object -----------------------------------------------------------------

    def key_problem(self, key: str) -> str | None:
        return None  # any key the input could carry names an object

    def head(self, key: str, version_id: str | None = None) -> ObjectInfo | None:
        """The object's metadata, or None if it does not exist."""
        self.requests += 1
        response = self.objects.head(
            self.client, self.location.bucket, key, version_id, ChecksumMode="ENABLED"
        )
        return None if response is None else info_from_head(self.location.bucket, key, response)

    @property
    def asynchronous(self) -> bool:
        """Whether head_async needs no thread (the request engine sends it)."""
        return self.objects.asynchronous

    def head_async(
        self,
        key: str,
        version_id: str | None = None,
        *,
        judge: Callable[[ObjectInfo | None], Any] | None = None,
        failed: Callable[[Exception], Any] | None = None,
    ) -> concurrent.futures.Future[Any]:
        """head() as a future, where `asynchronous`: its ObjectInfo (None: no such object),
        or what `judge` makes of that; with `failed`, what that makes of the HEAD's error
        instead of ending with it. Both run on the engine's thread, as the HEAD ends."""
        self.requests += 1
        read = _reading(self.location.bucket, key, judge)
        future: concurrent.futures.Future[Any] = self.objects.head_async(
            self.client, self.location.bucket, key, version_id, read=read, raw=True, failed=failed,
            ChecksumMode="ENABLED",
        )  # fmt: skip
        return future

    def get_async(
        self,
        key: str,
        version_id: str | None,
        sink: Sink,
        *,
        judge: Callable[[ObjectInfo | None], Any] | None = None,
        failed: Callable[[Exception], Any] | None = None,
    ) -> concurrent.futures.Future[Any]:
        """One GET of the whole object, where `asynchronous`: what a HEAD would tell of it
        (its headers, with the stored checksums), its body written to `sink`; None if the
        object does not exist. `judge` and `failed` as head_async's."""
        self.requests += 1
        read = _reading(self.location.bucket, key, judge)
        future: concurrent.futures.Future[Any] = self.objects.get_async(
            self.client, self.location.bucket, key, version_id, sink, read=read, failed=failed
        )
        return future

    def part_layout(self, key: str, version_id: str | None = None) -> tuple[int, int | None] | None:
        """What `HEAD partNumber=1` says: the size of part 1 and the part count (None if
        the server gives none); None if the object does not exist."""
        self.requests += 1
        response = self.objects.head(
            self.client, self.location.bucket, key, version_id, PartNumber=1
        )
        if response is None:
            return None
        count = response.get("PartsCount")
        return int(response.get("ContentLength") or 0), int(count) if count else None

    def describe(self, key: str, retrier: Retrier) -> SourceInfo | None:
        bucket = self.location.bucket
        head = retrier.call(self.clients, 0, lambda c: self.objects.head(c, bucket, key))
        if head is None:
            return None
        return SourceInfo(
            size=int(head["ContentLength"]),
            etag=unquoted(head.get("ETag")),
            content_type=head.get("ContentType"),
            metadata=dict(head.get("Metadata") or {}),
            storage_class=head.get("StorageClass"),
        )

    def local_path(self, key: str) -> str | None:
        return None

    def open(self, key: str, version_id: str | None = None) -> IO[bytes]:
        self.requests += 1
        return self.objects.get(self.client, self.location.bucket, key, version_id)

    def read(
        self, key: str, start: int, length: int, retrier: Retrier, *, piece: int = CHUNK
    ) -> Iterator[bytes]:
        """Ranged GETs of `piece` bytes (at least CHUNK) each, every one retried alone."""
        bucket = self.location.bucket
        step = max(CHUNK, piece)
        for offset in range(start, start + length, step):
            size = min(step, start + length - offset)

            def fetch(client: Any, offset: int = offset, size: int = size) -> bytes:
                return self.objects.get_range(client, bucket, key, offset, size)

            yield retrier.call(self.clients, size, fetch)

    # --- writing --------------------------------------------------------------------

    def put(self, key: str, chunks: Iterable[bytes], info: SourceInfo, retrier: Retrier) -> Written:
        data = b"".join(chunks)
        params = self._create_params(key, info)
        reported = retrier.call(
            self.clients, len(data), lambda c: self.objects.put(c, params, data)
        )
        return Written(len(data), hashlib.md5(data, usedforsecurity=False).hexdigest(), reported)

    def can_copy_from(self, source: Store) -> bool:
        return isinstance(source, S3Store)

    def copy_from(
        self, source: Store, source_key: str, key: str, info: SourceInfo, retrier: Retrier
    ) -> str | None:
        params = self._copy_params(source, source_key, key, info)
        return retrier.call(self.clients, info.size, lambda c: self.objects.copy(c, params))

    def copy_from_async(
        self, source: Store, source_key: str, key: str, info: SourceInfo, timeout_s: float
    ) -> concurrent.futures.Future[str | None]:
        """One attempt of copy_from as a future of the new ETag, where `asynchronous`;
        retrying is the caller's."""
        params = self._copy_params(source, source_key, key, info)
        return self.objects.copy_async(self.clients.get(timeout_s), params)

    def _copy_params(
        self, source: Store, source_key: str, key: str, info: SourceInfo
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "Bucket": self.location.bucket,
            "Key": key,
            "CopySource": {"Bucket": source.location.bucket, "Key": source_key},
            "MetadataDirective": "COPY",
        }
        if info.storage_class and info.storage_class != "STANDARD":
            params["StorageClass"] = info.storage_class
        return params

    def _create_params(self, key: str, info: SourceInfo) -> dict[str, Any]:
        params: dict[str, Any] = {"Bucket": self.location.bucket, "Key": key}
        if info.content_type:
            params["ContentType"] = info.content_type
        if info.metadata:
            params["Metadata"] = info.metadata
        if info.storage_class and info.storage_class != "STANDARD":
            params["StorageClass"] = info.storage_class
        return params

    def start_upload(self, key: str, info: SourceInfo, retrier: Retrier) -> str:
        params = self._create_params(key, info)
        response = retrier.call(self.clients, 0, lambda c: c.create_multipart_upload(**params))
        return str(response["UploadId"])

    def listed_parts(
        self, key: str, upload_id: str, retrier: Retrier
    ) -> builtins.list[tuple[int, int, str]]:
        """(number, size, ETag) of the parts the server holds for the upload."""
        bucket = self.location.bucket
        listed = retrier.call(
            self.clients, 0, lambda c: c.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)
        )
        return [
            (int(part["PartNumber"]), int(part["Size"]), str(part["ETag"]).strip('"'))
            for part in listed.get("Parts", [])
        ]

    def _part(self, part: Part) -> dict[str, Any]:
        return {
            "Bucket": self.location.bucket,
            "Key": part.key,
            "UploadId": part.upload_id,
            "PartNumber": part.number,
        }

    def upload_part(self, part: Part, data: bytes, retrier: Retrier) -> str:
        params = self._part(part)
        return retrier.call(
            self.clients, len(data), lambda c: self.objects.upload_part(c, params, data)
        )

    def upload_part_copy(self, part: Part, source: Store, span: Span, retrier: Retrier) -> str:
        params = self._part(part)
        origin = {"Bucket": source.location.bucket, "Key": span.key}
        return retrier.call(
            self.clients,
            span.end - span.start,
            lambda c: self.objects.upload_part_copy(c, params, origin, (span.start, span.end)),
        )

    def complete_upload(
        self, key: str, upload_id: str, etags: builtins.list[str], retrier: Retrier
    ) -> None:
        bucket = self.location.bucket
        parts = [{"PartNumber": n, "ETag": f'"{etag}"'} for n, etag in enumerate(etags, 1)]
        retrier.call(
            self.clients,
            0,
            lambda c: c.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            ),
        )

    def abort_upload(self, key: str, upload_id: str, retrier: Retrier) -> None:
        bucket = self.location.bucket
        retrier.call(
            self.clients,
            0,
            lambda c: c.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id),
        )

    # --- deleting -------------------------------------------------------------------

    def delete_many(self, deletions: builtins.list[Deletion], window: Window) -> None:
        delete_objects(self.client, self.location.bucket, deletions, window)


class S3Listing:
    """A bucket's listing resumed after {"key", "version_id"}, on one stream or more,
    within the shard's bounds; `position()` is the last record's key and version."""

    def __init__(self, store: S3Store, spec: ListSpec, resume: dict[str, Any]) -> None:
        self.store = store
        self.spec = spec
        self.request = ListRequest(
            store.location.bucket,
            store.location.prefix,
            versions=spec.versions,
            page_size=spec.page_size,
            start_after=resume.get("key"),
            version_marker=resume.get("version_id"),
        )
        self._last: ObjectRecord | None = None

    def position(self) -> dict[str, Any]:
        last = self._last
        return {} if last is None else {"key": last.key, "version_id": last.version_id}

    def __iter__(self) -> Iterator[DataRecord | Flush]:
        request, spec = self.request, self.spec
        records: Iterator[ObjectRecord | Flush]
        if spec.streams > 1 or spec.bounds is not None:
            bounds = spec.bounds or KeyRange()
            if request.start_after is not None:
                bounds = KeyRange(request.start_after, bounds.upto)
            records = iter(ParallelLister(self.store.client, request, spec.streams, bounds))
        else:
            records = self.store._list_request(request)
        for record in records:
            if record is not FLUSH:
                self._last = record
            yield record


def info_from_head(bucket: str, key: str, response: dict[str, Any]) -> ObjectInfo:
    modified = response.get("LastModified")
    checksums = {name: response[field] for name, field in _CHECKSUM_FIELDS if response.get(field)}
    record = ObjectRecord(
        bucket=bucket,
        key=key,
        size=response.get("ContentLength"),
        etag=unquoted(response.get("ETag")),
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


_CHECKSUM_RESPONSE_HEADERS = tuple(
    (name, f"x-amz-checksum-{name.lower()}") for name in CHECKSUM_HEADERS
)


def info_from_headers(bucket: str, key: str, headers: dict[str, str]) -> ObjectInfo:
    """info_from_head of a HEAD's (or GET's) response headers (lower-case names), without
    building botocore's response first: the same ObjectInfo, for a few microseconds less
    per object (the request engine's HEADs; tests/unit/test_crt_requests.py compares them)."""
    get = headers.get
    checksums = {
        name: value for name, header in _CHECKSUM_RESPONSE_HEADERS if (value := get(header))
    }
    size, parts = get("content-length"), get("x-amz-mp-parts-count")
    record = ObjectRecord(
        bucket=bucket,
        key=key,
        size=int(size) if size else None,
        etag=unquoted(get("etag")),
        last_modified=_rfc3339(get("last-modified")),
        storage_class=get("x-amz-storage-class") or "STANDARD",
        version_id=get("x-amz-version-id") or None,
        checksum_algorithm=next(iter(checksums), None),
    )
    return ObjectInfo(
        record,
        checksums=checksums,
        checksum_type=get("x-amz-checksum-type") or None,
        parts_count=int(parts) if parts else None,
        sse_kms=(get("x-amz-server-side-encryption") or "").startswith("aws:kms"),
    )


def _reading(
    bucket: str, key: str, judge: Callable[[ObjectInfo | None], Any] | None
) -> Callable[[dict[str, str] | None], Any]:
    """What the engine makes of a HEAD's or GET's response headers (None: no such
    object): the ObjectInfo, or what `judge` makes of it."""

    def read(headers: dict[str, str] | None) -> Any:
        info = None if headers is None else info_from_headers(bucket, key, headers)
        return info if judge is None else judge(info)

    return read


@functools.lru_cache(maxsize=1024)
def _rfc3339(http_date_text: str | None) -> str | None:
    """A Last-Modified header as a record's timestamp (None: none, or not a date); cached,
    as objects written together share their second."""
    from lib.stores.crt.answers import http_date

    modified = http_date(http_date_text)
    return None if modified is None else format_timestamp(modified.timestamp())
