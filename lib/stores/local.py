"""A local directory as a store: keys are relative paths with `/`, in S3's order.

S3 lists keys in UTF-8 byte order. A directory walk gives that order when each
directory's entries are sorted by their name's bytes, with `/` appended to the
names of subdirectories: every key below `a/` then sorts exactly where the
prefix `a/` sorts among its siblings (`a-b` < `a/x` < `a0`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from lib.leaves.errors import FatalError
from lib.leaves.hashing import file_etag
from lib.leaves.records import ErrorRecord, ObjectRecord, format_timestamp


def _sorted_entries(directory: bytes) -> list[tuple[bytes, bytes, bool]]:
    """(sort key, name, is_dir) for the entries of a directory, symlinks left out."""
    entries = []
    with os.scandir(directory) as scan:
        for entry in scan:
            if entry.is_symlink():
                continue
            if entry.is_dir(follow_symlinks=False):
                entries.append((entry.name + b"/", entry.name, True))
            elif entry.is_file(follow_symlinks=False):
                entries.append((entry.name, entry.name, False))
    entries.sort()
    return entries


@dataclass(frozen=True)
class Hole:
    """Something under the root the walk could not cover: a file, or a directory (whose
    relative path then ends with `/`), and why."""

    why: str


def walk_files(
    root: str, prefix: str = "", after: bytes | None = None
) -> Iterator[tuple[bytes, bytes, os.stat_result | Hole]]:
    """(relative path, path, stat) of every file under root, in byte order of the relative
    path; a Hole instead of the stat for what cannot be read (a directory that cannot be
    listed or has a name that is not UTF-8, a file gone before its stat).

    With `after`, whole subtrees that sort before it are skipped (and a subtree equal to
    it: a hole resumed past).
    """
    root_bytes = os.fsencode(root)
    wanted = prefix.encode("utf-8")
    stack: list[Iterator[tuple[bytes, bytes, bool]]] = []
    rel_dirs: list[bytes] = [b""]
    try:
        stack.append(iter(_sorted_entries(root_bytes)))
    except OSError as exc:
        raise FatalError(f"cannot list {root}: {exc.strerror}") from None
    while stack:
        try:
            _, name, is_dir = next(stack[-1])
        except StopIteration:
            stack.pop()
            rel_dirs.pop()
            continue
        rel = rel_dirs[-1] + name
        if is_dir:
            subtree = rel + b"/"
            if after is not None and after >= subtree and not after.startswith(subtree):
                continue
            if after == subtree or not (subtree.startswith(wanted) or wanted.startswith(subtree)):
                continue
            path = os.path.join(root_bytes, rel)
            try:
                name.decode("utf-8")
                entries = _sorted_entries(path)
            except UnicodeDecodeError:
                yield subtree, path, Hole(NOT_UTF8)
                continue
            except OSError as exc:
                yield subtree, path, Hole(f"cannot list the directory: {exc.strerror}")
                continue
            stack.append(iter(entries))
            rel_dirs.append(subtree)
            continue
        if (after is not None and rel <= after) or not rel.startswith(wanted):
            continue
        path = os.path.join(root_bytes, rel)
        try:
            info: os.stat_result | Hole = os.stat(path, follow_symlinks=False)
        except OSError as exc:
            info = Hole(f"cannot stat the file: {exc.strerror}")
        yield rel, path, info


NOT_UTF8 = "name is not valid UTF-8, so it cannot be an S3 key"


def hole_key(rel: bytes) -> str:
    """The key an error record gives a hole: the relative path, each byte that is not
    UTF-8 written as `\\xNN` (so a name that is not UTF-8 still names where it lies)."""
    return rel.decode("utf-8", "backslashreplace")


def list_directory(
    root: str, prefix: str = "", after: bytes | None = None, *, md5: bool = False
) -> Iterator[tuple[bytes, ObjectRecord | ErrorRecord]]:
    """(relative path, record) for the regular files of a directory, in S3 key order.

    What the walk cannot cover becomes an error record whose `key` is the file's key,
    or the directory's key prefix ending in `/`: a hole in the listing.
    """
    if not os.path.isdir(root):
        raise FatalError(f"{root} is not a directory")
    for rel, path, info in walk_files(root, prefix, after):
        if isinstance(info, Hole):
            yield rel, hole_record(rel, path, info.why)
            continue
        if not stat.S_ISREG(info.st_mode):
            continue
        try:
            key = rel.decode("utf-8")
        except UnicodeDecodeError:
            yield rel, hole_record(rel, path, NOT_UTF8)
            continue
        etag = None
        if md5:
            try:
                etag = md5_if_unchanged(path, info)
            except OSError as exc:
                yield rel, hole_record(rel, path, f"cannot read the file: {exc.strerror}")
                continue
            if etag is None:
                yield rel, hole_record(rel, path, CHANGED)
                continue
        yield (
            rel,
            ObjectRecord(
                bucket=root,
                key=key,
                size=info.st_size,
                etag=etag,
                last_modified=format_timestamp(info.st_mtime),
                storage_class=None,
            ),
        )


CHANGED = "the file changed while it was hashed (size, time or inode differ after reading)"


def md5_if_unchanged(path: bytes, before: os.stat_result) -> str | None:
    """The file's MD5, or None if the file after reading is not the one `before` described
    (another inode, size or modification time): then size and hash could disagree."""
    etag = file_etag(os.fsdecode(path), None)
    after = os.stat(path, follow_symlinks=False)
    if (after.st_ino, after.st_size, after.st_mtime_ns) != (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    ):
        return None
    return etag


def changed_since(path: str, record: ObjectRecord) -> bool:
    """Whether a local file is no longer what its record (size, time to the millisecond)
    describes: checked after hashing it, so that a hash never pairs with another size."""
    try:
        info = os.stat(path, follow_symlinks=False)
    except OSError:
        return True
    return info.st_size != record.size or format_timestamp(info.st_mtime) != record.last_modified


def hole_record(rel: bytes, path: bytes, why: str) -> ErrorRecord:
    return ErrorRecord(
        stage="s3-manifest",
        message=f"{hole_key(rel)}: {why}; not listed",
        input=path.decode("utf-8", "backslashreplace")[:200],
        key=hole_key(rel),
    )
