"""The local-directory implementation of the Store (lib/stores/protocol.py).

The directory is the "bucket" and keys are paths below it. Every access to a key
goes through lib/io/localpath.py's guard (no `..`, no absolute key, no symlink on the
way), so a key from the input can never reach outside the directory.
"""

from __future__ import annotations

import builtins
import mimetypes
import os
import stat
from collections.abc import Iterable, Iterator
from typing import IO, Any

from lib.engine.shard import Shard
from lib.io.localpath import LocalRoot, RefusedPath, key_problem
from lib.leaves.errors import FatalError
from lib.leaves.flush import Flush
from lib.leaves.location import Location
from lib.leaves.records import DataRecord, ObjectRecord, format_timestamp
from lib.stores.local import list_directory
from lib.stores.protocol import (
    Deletion,
    LayoutUnknown,
    ListSpec,
    ObjectInfo,
    Part,
    SourceInfo,
    Span,
    Store,
    Window,
    Written,
)
from lib.stores.ranges import KeyRange
from lib.stores.transfer import MIB, Retrier, TransferError

CHUNK = MIB


class LocalStore:
    remote = False
    multipart = False

    def __init__(self, location: Location) -> None:
        self.location = location
        self.requests = 0
        self._root = os.path.join(location.bucket, "")
        self._files = LocalRoot(location.bucket)

    def where(self, key: str | None = None) -> str:
        return self._root + (self.location.prefix if key is None else key)

    def check_bucket(self) -> None:
        if not os.path.isdir(self.location.bucket):
            raise FatalError(f"{self.location.bucket} is not a directory")

    def versioned(self) -> bool:
        return False

    # --- listing --------------------------------------------------------------------

    def list(
        self, start_after: str | None = None, *, streams: int = 1, page_size: int | None = None
    ) -> Iterator[DataRecord | Flush]:
        """The files after `start_after`, in key order (streams and pages are S3's)."""
        after = start_after.encode("utf-8") if start_after is not None else None
        for _, record in list_directory(self.location.bucket, self.location.prefix, after):
            yield record

    def listing(self, spec: ListSpec, resume: dict[str, Any]) -> LocalListing:
        return LocalListing(self.location, spec, resume)

    def shard_bounds(self, shard: Shard, page_size: int) -> KeyRange:
        raise FatalError("--shard lists S3 locations only")

    # --- one object -----------------------------------------------------------------

    def key_problem(self, key: str) -> str | None:
        problem = key_problem(key)
        return f"refused: {problem} ({self.location})" if problem else None

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

    def part_layout(self, key: str, version_id: str | None = None) -> tuple[int, int | None] | None:
        raise LayoutUnknown("pass --part-size to compare multipart ETags with local files")

    def describe(self, key: str, retrier: Retrier) -> SourceInfo | None:
        found = self._files.stat(key)
        if found is None or not stat.S_ISREG(found.st_mode):
            return None
        return SourceInfo(found.st_size, None, mimetypes.guess_type(key)[0])

    def open(self, key: str, version_id: str | None = None) -> IO[bytes]:
        return self._files.open(key)

    def read(
        self, key: str, start: int, length: int, retrier: Retrier, *, piece: int = CHUNK
    ) -> Iterator[bytes]:
        if length == 0:
            return
        with self._files.open(key) as handle:
            handle.seek(start)
            remaining = length
            while remaining > 0:
                chunk = handle.read(min(CHUNK, remaining))
                if not chunk:
                    raise TransferError(f"{key} is shorter than expected")
                remaining -= len(chunk)
                yield chunk

    # --- writing --------------------------------------------------------------------

    def put(self, key: str, chunks: Iterable[bytes], info: SourceInfo, retrier: Retrier) -> Written:
        """Streams the chunks into a fresh temp file, fsynced and renamed over the key."""
        size, md5 = self._files.write(key, chunks)
        return Written(size, md5)

    def can_copy_from(self, source: Store) -> bool:
        return False

    def copy_from(
        self, source: Store, source_key: str, key: str, info: SourceInfo, retrier: Retrier
    ) -> str | None:
        raise TransferError("a local directory has no server-side copy")

    def start_upload(self, key: str, info: SourceInfo, retrier: Retrier) -> str:
        raise TransferError("a local directory takes no multipart upload")

    def listed_parts(
        self, key: str, upload_id: str, retrier: Retrier
    ) -> builtins.list[tuple[int, int, str]]:
        return []

    def upload_part(self, part: Part, data: bytes, retrier: Retrier) -> str:
        raise TransferError("a local directory takes no multipart upload")

    def upload_part_copy(self, part: Part, source: Store, span: Span, retrier: Retrier) -> str:
        raise TransferError("a local directory takes no multipart upload")

    def complete_upload(
        self, key: str, upload_id: str, etags: builtins.list[str], retrier: Retrier
    ) -> None:
        raise TransferError("a local directory takes no multipart upload")

    def abort_upload(self, key: str, upload_id: str, retrier: Retrier) -> None:
        return None  # nothing was ever started

    # --- deleting -------------------------------------------------------------------

    def delete_many(self, deletions: builtins.list[Deletion], window: Window) -> None:
        """Unlinks each file (and the directories that leaves empty); a missing file is
        `deleted`, as S3's DeleteObjects reports a missing key."""
        for deletion in deletions:
            try:
                self._files.remove(deletion.key)
            except RefusedPath as exc:
                deletion.status, deletion.error = "failed", f"refused: {exc}"
            except OSError as exc:
                deletion.status, deletion.error = "failed", exc.strerror or str(exc)
            else:
                deletion.status, deletion.error = "deleted", None


class LocalListing:
    """A directory's walk resumed after {"after_path": hex of the last relative path}."""

    def __init__(self, location: Location, spec: ListSpec, resume: dict[str, Any]) -> None:
        self.location = location
        self.spec = spec
        after = resume.get("after_path")
        self._after = bytes.fromhex(after) if after else None
        self._last_path: bytes | None = None

    def position(self) -> dict[str, Any]:
        last = self._last_path
        return {} if last is None else {"after_path": last.hex()}

    def __iter__(self) -> Iterator[DataRecord | Flush]:
        for path, record in list_directory(
            self.location.bucket, self.location.prefix, self._after, md5=self.spec.md5
        ):
            self._last_path = path
            yield record
