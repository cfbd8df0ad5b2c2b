"""s3-manifest's pipeline: a location listed as object records, resumable by cursor."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from lib.coverage import declared
from lib.errors import ExitCode
from lib.flush import FLUSH, Flush
from lib.local import list_directory
from lib.location import Location
from lib.ranges import KeyRange, ParallelLister, shard_range
from lib.records import DataRecord, ErrorRecord, ObjectRecord
from lib.s3 import ListRequest
from lib.shard import Shard
from lib.stores import S3Store


@dataclass
class ManifestOptions:
    versions: bool = False
    include: Sequence[str] = field(default_factory=list)
    exclude: Sequence[str] = field(default_factory=list)
    page_size: int = 1000
    md5: bool = False
    parallel: int = 1  # list streams; more than one lists key ranges at once
    shard: Shard | None = None


def key_filter(
    prefix: str, include: Sequence[str], exclude: Sequence[str]
) -> Callable[[str], bool] | None:
    """A predicate on keys from glob patterns matched against the key below the prefix."""
    if not include and not exclude:
        return None

    def compile_any(patterns: Sequence[str]) -> re.Pattern[str] | None:
        if not patterns:
            return None
        return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns), re.DOTALL)

    included, excluded = compile_any(include), compile_any(exclude)
    cut = len(prefix)

    def keep(key: str) -> bool:
        relative = key[cut:]
        if included is not None and not included.match(relative):
            return False
        return excluded is None or not excluded.match(relative)

    return keep


def count_listed(record: DataRecord) -> tuple[str, int]:
    """Summary counts of s3-manifest, whatever its source: objects, delete markers,
    errors; bytes listed."""
    if isinstance(record, ObjectRecord):
        if record.delete_marker:
            return "delete_markers", 0
        return "objects", record.size or 0
    return "errors", 0


class ManifestPipeline:
    """Lists a location; `cursor()` is the last listed key (and version) at any yield."""

    classify = staticmethod(count_listed)

    def __init__(
        self,
        location: Location,
        options: ManifestOptions,
        *,
        client: Any = None,
        cursor: dict[str, Any] | None = None,
    ) -> None:
        self.location = location
        self.options = options
        self.client = client
        self.complete = False
        self._resume = dict(cursor or {})
        self._last: ObjectRecord | None = None
        self._last_path: bytes | None = None
        self._holes: int = self._resume.pop("holes", 0)  # error records: what was not covered
        self.notes: list[str] = []
        self._shard_range = self._find_shard_range()
        self.coverage = declared(
            location.prefix,
            options.include,
            options.exclude,
            self._shard_range,
            str(options.shard) if options.shard else None,
        )

    def cursor(self) -> dict[str, Any]:
        cursor = dict(self._resume)
        if self._last is not None:
            cursor = {"key": self._last.key, "version_id": self._last.version_id}
        elif self._last_path is not None:
            cursor = {"after_path": self._last_path.hex()}
        if self._shard_range is not None:
            # A resumed shard keeps its bounds even if the bucket changed meanwhile.
            cursor["shard_range"] = [self._shard_range.after, self._shard_range.upto]
        if self._holes:
            cursor["holes"] = self._holes
        return cursor

    def __iter__(self) -> Iterator[DataRecord | Flush]:
        if self.location.is_s3:
            yield from self._list_s3()
        else:
            yield from self._list_local()
        # A listing with holes is not all of the location (DESIGN.md, "Completeness").
        self.complete = not self._holes
        if self._holes:
            self.notes.append(
                f"{self._holes} path(s) could not be listed (see the error records), "
                "so the manifest is not complete"
            )

    def _list_s3(self) -> Iterator[DataRecord | Flush]:
        location, options = self.location, self.options
        request = ListRequest(
            location.bucket,
            location.prefix,
            versions=options.versions,
            page_size=options.page_size,
            start_after=self._resume.get("key"),
            version_marker=self._resume.get("version_id"),
        )
        keep = key_filter(location.prefix, options.include, options.exclude)
        records: Iterator[ObjectRecord | Flush]
        if options.parallel > 1 or options.shard is not None:
            bounds = self._bounds(request)
            records = iter(ParallelLister(self.client, request, options.parallel, bounds))
        else:
            records = S3Store(self.client, location).list_request(request)
        for record in records:
            if record is FLUSH:
                yield FLUSH
                continue
            self._last = record
            if keep is None or keep(record.key):
                yield record

    def _find_shard_range(self) -> KeyRange | None:
        """The shard's key range (saved, or found now), known before the header is written."""
        shard = self.options.shard
        if shard is None:
            return None
        saved = self._resume.get("shard_range")
        if saved is not None:
            bounds = KeyRange(saved[0], saved[1])
        else:
            request = ListRequest(
                self.location.bucket, self.location.prefix, page_size=self.options.page_size
            )
            bounds = shard_range(self.client, request, shard.index, shard.count)
        self.notes.append(
            f"shard {shard}: keys after {bounds.after!r} up to {bounds.upto!r} "
            "(None: the prefix's start or end)"
        )
        return bounds

    def _bounds(self, request: ListRequest) -> KeyRange:
        """The key range to list: the shard's, after the cursor."""
        bounds = self._shard_range or KeyRange()
        if request.start_after is not None:
            bounds = KeyRange(request.start_after, bounds.upto)
        return bounds

    def _list_local(self) -> Iterator[DataRecord | Flush]:
        location, options = self.location, self.options
        after = self._resume.get("after_path")
        keep = key_filter("", options.include, options.exclude)
        for path, record in list_directory(
            location.bucket,
            location.prefix,
            bytes.fromhex(after) if after else None,
            md5=options.md5,
        ):
            self._last_path = path
            if isinstance(record, ErrorRecord):
                self._holes += 1
            if keep is None or not isinstance(record, ObjectRecord) or keep(record.key):
                yield record


def judge(counts: dict[str, int], complete: bool) -> ExitCode:
    return ExitCode.OK if complete and not counts.get("errors") else ExitCode.NOT_OK
