"""s3-manifest --keys: a plain list of keys, one per line, as object records, without a request.

Keys are full keys, as s3-manifest and other tools write them; when LOCATION has a
prefix, every key must start with it (bad input otherwise: a wrong prefix should not
quietly give an empty manifest). Lines end with LF or CRLF; empty lines are skipped;
a line must be UTF-8. Since nothing is asked of the store, `size`, `etag` and
`last_modified` are null, and s3-check then checks existence only.

The output is in S3 key order like every manifest: the list goes through the
external sort (a list that fits in one run never touches the disk) and a key given
twice is written once. The cursor is the number of records written and the last
key; a resumed run reads and sorts the list again, skips that many records and
checks that the last one skipped is the key the cursor names.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from lib.io.extsort import DEFAULT_RUN_SIZE, Item, external_sort
from lib.leaves.errors import BadInput, UsageError
from lib.leaves.flush import Flush
from lib.leaves.location import Location
from lib.leaves.records import DataRecord, ObjectRecord
from lib.pipelines.coverage import declared
from lib.pipelines.manifest import count_listed, key_filter

MAX_KEY_BYTES = 1024
_MAX_LINE = 64 * 1024


@dataclass
class SortOptions:
    """Where and in what pieces input that is not in key order gets sorted."""

    run_size: int = DEFAULT_RUN_SIZE
    temp_dir: str | None = None


@dataclass
class KeyListOptions:
    include: Sequence[str] = field(default_factory=list)
    exclude: Sequence[str] = field(default_factory=list)
    sort: SortOptions = field(default_factory=SortOptions)


class ResumeSkipper:
    """Skips the records a checkpointed run already wrote, checking it is the same sequence."""

    def __init__(self, cursor: dict[str, Any] | None, what: str) -> None:
        cursor = cursor or {}
        self.to_skip: int = cursor.get("emitted", 0)
        self.written = self.to_skip
        self.last: tuple[str | None, str | None] = (cursor.get("key"), cursor.get("version_id"))
        self._what = what

    def cursor(self) -> dict[str, Any]:
        if not self.written:
            return {}
        key, version_id = self.last
        return {"emitted": self.written, "key": key, "version_id": version_id}

    def already_written(self, key: str, version_id: str | None) -> bool:
        """True for the records to skip; the last of them must be the cursor's record."""
        if self.to_skip == 0:
            self.written += 1
            self.last = (key, version_id)
            return False
        self.to_skip -= 1
        if self.to_skip == 0 and self.last != (key, version_id):
            self._differs()
        return True

    def finish(self) -> None:
        if self.to_skip:
            self._differs()

    def _differs(self) -> None:
        raise UsageError(
            f"the {self._what} differs from the one the checkpointed run read",
            hint="give the same input again, or pass --restart to start over",
        )


class KeyListPipeline:
    classify = staticmethod(count_listed)

    def __init__(
        self,
        stream: IO[bytes],
        location: Location,
        options: KeyListOptions,
        *,
        cursor: dict[str, Any] | None = None,
    ) -> None:
        self.stream = stream
        self.location = location
        self.options = options
        self.complete = False
        self._skipper = ResumeSkipper(cursor, "key list")
        self.coverage = declared(location.prefix, options.include, options.exclude, keys=True)
        self.notes: list[str] = []

    def cursor(self) -> dict[str, Any]:
        return self._skipper.cursor()

    def __iter__(self) -> Iterator[DataRecord | Flush]:
        sort = self.options.sort
        bucket = self.location.bucket
        previous: bytes | None = None
        for (raw,) in external_sort(self._keys(), run_size=sort.run_size, directory=sort.temp_dir):
            if raw == previous:
                continue
            previous = raw
            key = raw.decode("utf-8")
            if not self._skipper.already_written(key, None):
                yield ObjectRecord(bucket=bucket, key=key)
        self._skipper.finish()
        self.complete = True

    def _keys(self) -> Iterator[Item]:
        prefix = self.location.prefix
        keep = key_filter(prefix, self.options.include, self.options.exclude)
        for number, line in enumerate(iter(lambda: self.stream.readline(_MAX_LINE), b""), 1):
            if not line.endswith(b"\n") and len(line) >= _MAX_LINE:
                raise BadInput(number, f"line longer than {_MAX_LINE} bytes")
            raw = line.removesuffix(b"\n").removesuffix(b"\r")
            if not raw:
                continue
            try:
                key = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise BadInput(number, f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
            if len(raw) > MAX_KEY_BYTES:
                raise BadInput(number, f"a key is at most {MAX_KEY_BYTES} bytes, not {len(raw)}")
            if not key.startswith(prefix):
                raise BadInput(
                    number,
                    f"key {key[:200]!r} is not under the prefix {prefix!r} of LOCATION "
                    "(keys are full keys)",
                )
            if keep is None or keep(key):
                yield (raw,)
