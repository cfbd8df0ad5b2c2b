"""s3-manifest's pipeline: a location listed as object records, resumable by cursor."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from lib.engine.shard import Shard
from lib.leaves.errors import ExitCode
from lib.leaves.flush import FLUSH, Flush
from lib.leaves.records import DataRecord, ErrorRecord, ObjectRecord
from lib.pipelines.coverage import declared
from lib.stores.protocol import ListSpec, Store
from lib.stores.ranges import KeyRange


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
    """Lists a store; `cursor()` is where the listing would continue, at any yield."""

    classify = staticmethod(count_listed)

    def __init__(
        self,
        store: Store,
        options: ManifestOptions,
        *,
        cursor: dict[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.location = store.location
        self.options = options
        self.complete = False
        self._resume = dict(cursor or {})
        self._holes: int = self._resume.pop("holes", 0)  # error records: what was not covered
        self.notes: list[str] = []
        self._shard_range = self._find_shard_range()
        self._listing = store.listing(
            ListSpec(
                versions=options.versions,
                page_size=options.page_size,
                md5=options.md5,
                streams=options.parallel,
                bounds=self._shard_range,
            ),
            self._resume,
        )
        self.coverage = declared(
            self.location.prefix,
            options.include,
            options.exclude,
            self._shard_range,
            str(options.shard) if options.shard else None,
        )

    def cursor(self) -> dict[str, Any]:
        cursor = self._listing.position() or dict(self._resume)
        if self._shard_range is not None:
            # A resumed shard keeps its bounds even if the bucket changed meanwhile.
            cursor["shard_range"] = [self._shard_range.after, self._shard_range.upto]
        if self._holes:
            cursor["holes"] = self._holes
        return cursor

    def __iter__(self) -> Iterator[DataRecord | Flush]:
        options = self.options
        keep = key_filter(self.location.prefix, options.include, options.exclude)
        for record in self._listing:
            if record is FLUSH:
                yield FLUSH
            elif type(record) is ObjectRecord:
                if keep is None or keep(record.key):
                    yield record
            else:
                if isinstance(record, ErrorRecord):
                    self._holes += 1
                yield record
        # A listing with holes is not all of the location (DESIGN.md, "Completeness").
        self.complete = not self._holes
        if self._holes:
            self.notes.append(
                f"{self._holes} path(s) could not be listed (see the error records), "
                "so the manifest is not complete"
            )

    def _find_shard_range(self) -> KeyRange | None:
        """The shard's key range (saved, or found now), known before the header is written."""
        shard = self.options.shard
        if shard is None:
            return None
        saved = self._resume.pop("shard_range", None)
        if saved is not None:
            bounds = KeyRange(saved[0], saved[1])
        else:
            bounds = self.store.shard_bounds(shard, self.options.page_size)
        self.notes.append(
            f"shard {shard}: keys after {bounds.after!r} up to {bounds.upto!r} "
            "(None: the prefix's start or end)"
        )
        return bounds


def judge(counts: dict[str, int], complete: bool) -> ExitCode:
    return ExitCode.OK if complete and not counts.get("errors") else ExitCode.NOT_OK
