"""The Store: everything a pipeline asks of the place objects live.

A Store is one location (`s3://bucket/prefix` or a local directory) behind one
interface: list its keys in S3 order (after a key, optionally versions, on several
streams or within a shard's bounds, resumable), describe a key (HEAD, part layout),
read it (a stream or a byte range), write it (whole, or in multipart pieces), copy
into it server-side, delete many keys at once, and check that it exists. Keys given
to and returned by a store are full keys (prefix included).

Two implementations: `S3Store` (lib/stores/s3store.py, over botocore; its per-object
requests are the narrow `ObjectRequests` class) and `LocalStore` (lib/stores/localstore.py,
every access through lib/io/localpath.py's guard). The pipelines (manifest, check,
repair and its copier, delete, verify) speak only to this protocol; the stages build
the stores (`store_for`, or a `Stores` cache of one store per bucket) and hand them in.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from lib.engine.shard import Shard
from lib.leaves.flush import Flush
from lib.leaves.location import Location
from lib.leaves.records import DataRecord, ObjectRecord
from lib.stores.ranges import KeyRange
from lib.stores.s3requests import ObjectRequests
from lib.stores.transfer import Retrier


class LayoutUnknown(Exception):
    """The part layout of a multipart ETag cannot be learned reliably; says why."""


@dataclass
class ObjectInfo:
    """What HEAD tells about an object: its record, stored checksums, part count."""

    record: ObjectRecord
    checksums: dict[str, str] = field(default_factory=dict)
    checksum_type: str | None = None
    parts_count: int | None = None
    sse_kms: bool = False  # with SSE-KMS the ETag is not an MD5 of the content


@dataclass
class SourceInfo:
    """What a copy needs to know of its source object, and carries over to the target."""

    size: int
    etag: str | None
    content_type: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    storage_class: str | None = None


@dataclass
class Written:
    """A whole object written: its size, the MD5 of the bytes sent, and the ETag the
    server answered with (None when it gives none)."""

    size: int
    md5: str
    reported_etag: str | None = None


@dataclass
class ListSpec:
    """How to list: versions, page size, local MD5s, streams, a shard's key bounds."""

    versions: bool = False
    page_size: int = 1000
    md5: bool = False
    streams: int = 1
    bounds: KeyRange | None = None


class Listing(Protocol):
    """A resumable listing: its records, and where a rerun would continue."""

    def __iter__(self) -> Iterator[DataRecord | Flush]: ...

    def position(self) -> dict[str, Any]:
        """The cursor after the last record listed ({} before the first)."""
        ...


class Window(Protocol):
    """What a delete batch tells the adaptive window of requests in flight."""

    def throttle(self) -> None: ...

    def success(self) -> None: ...


@dataclass(frozen=True)
class Part:
    """One part of a multipart upload."""

    key: str
    upload_id: str
    number: int  # 1-based


@dataclass(frozen=True)
class Span:
    """Bytes [start, end) of a source key."""

    key: str
    start: int
    end: int


@dataclass
class Deletion:
    """One key to delete and, once the store has answered, its outcome."""

    key: str
    version_id: str | None
    status: str = "failed"  # "deleted" or "failed"
    error: str | None = None


class Store(Protocol):
    location: Location
    requests: int
    remote: bool  # bytes travel over the network (names a copy "download")
    multipart: bool  # takes an object in parts (multipart upload, part copy)

    def where(self, key: str | None = None) -> str: ...

    def check_bucket(self) -> None: ...

    def versioned(self) -> bool: ...

    # --- listing ------------------------------------------------------------------

    def list(
        self, start_after: str | None = None, *, streams: int = 1, page_size: int | None = None
    ) -> Iterator[DataRecord | Flush]:
        """The objects after `start_after` in key order, on `streams` parallel streams."""
        ...

    def listing(self, spec: ListSpec, resume: dict[str, Any]) -> Listing: ...

    def shard_bounds(self, shard: Shard, page_size: int) -> KeyRange: ...

    # --- one object ---------------------------------------------------------------

    def key_problem(self, key: str) -> str | None:
        """Why `key` can never name an object here, or None."""
        ...

    def head(self, key: str, version_id: str | None = None) -> ObjectInfo | None: ...

    def part_layout(self, key: str, version_id: str | None = None) -> tuple[int, int | None] | None:
        """(size of part 1, part count or None) as `HEAD partNumber=1` says; None if
        the object does not exist; LayoutUnknown where there are no parts."""
        ...

    def describe(self, key: str, retrier: Retrier) -> SourceInfo | None: ...

    def local_path(self, key: str) -> str | None: ...

    def open(self, key: str, version_id: str | None = None) -> IO[bytes]: ...

    def read(
        self, key: str, start: int, length: int, retrier: Retrier, *, piece: int = ...
    ) -> Iterator[bytes]:
        """The bytes [start, start+length) of `key`, in chunks (S3: ranged GETs of
        `piece` bytes)."""
        ...

    # --- writing ------------------------------------------------------------------

    def put(
        self, key: str, chunks: Iterable[bytes], info: SourceInfo, retrier: Retrier
    ) -> Written: ...

    def copy_from(
        self, source: Store, source_key: str, key: str, info: SourceInfo, retrier: Retrier
    ) -> str | None:
        """Server-side copy; the ETag the server answered with."""
        ...

    def can_copy_from(self, source: Store) -> bool: ...

    def start_upload(self, key: str, info: SourceInfo, retrier: Retrier) -> str: ...

    def listed_parts(
        self, key: str, upload_id: str, retrier: Retrier
    ) -> builtins.list[tuple[int, int, str]]: ...

    def upload_part(self, part: Part, data: bytes, retrier: Retrier) -> str: ...

    def upload_part_copy(self, part: Part, source: Store, span: Span, retrier: Retrier) -> str:
        """Copies bytes [start, end) of the span's source key server-side into the part."""
        ...

    def complete_upload(
        self, key: str, upload_id: str, etags: builtins.list[str], retrier: Retrier
    ) -> None: ...

    def abort_upload(self, key: str, upload_id: str, retrier: Retrier) -> None: ...

    # --- deleting -----------------------------------------------------------------

    def delete_many(self, deletions: builtins.list[Deletion], window: Window) -> None:
        """Deletes the keys, setting each one's status and error; a missing key is
        `deleted`, as S3's DeleteObjects reports one."""
        ...


def store_for(location: Location, client: Any, **options: Any) -> Store:
    """The store behind a location (an S3 client is needed for s3:// locations)."""
    from lib.stores.localstore import LocalStore
    from lib.stores.s3store import S3Store

    if location.is_s3:
        return S3Store(client, location, **options)
    return LocalStore(location)


@dataclass
class Stores:
    """One store per bucket (or local directory, whose bucket is its absolute path),
    made on first use, for pipelines whose records name their own buckets."""

    client: Any
    by_bucket: dict[str, Store] = field(default_factory=dict)
    objects: ObjectRequests | None = None  # the S3 stores' per-object requests (None: botocore)

    def get(self, bucket: str) -> Store:
        store = self.by_bucket.get(bucket)
        if store is None:
            kind = "local" if bucket.startswith("/") else "s3"
            store = store_for(Location(kind, bucket), self.client, objects=self.objects)
            self.by_bucket[bucket] = store
        return store

    def at(self, location: Location) -> Store:
        """A store for a location below a bucket (to list its prefix), with the same client."""
        return store_for(location, self.client, objects=self.objects)
