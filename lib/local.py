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

from lib.errors import FatalError
from lib.hashing import file_etag
from lib.records import ErrorRecord, ObjectRecord, format_timestamp


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


def walk_files(
    root: str, prefix: str = "", after: bytes | None = None
) -> Iterator[tuple[bytes, bytes, os.stat_result]]:
    """(relative path, path, stat) of every file under root, in byte order of the relative path.

    With `after`, whole subtrees that sort before it are skipped.
    """
    root_bytes = os.fsencode(root)
    wanted = prefix.encode("utf-8")
    stack: list[Iterator[tuple[bytes, bytes, bool]]] = []
    rel_dirs: list[bytes] = [b""]
    stack.append(iter(_sorted_entries(root_bytes)))
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
            if not (subtree.startswith(wanted) or wanted.startswith(subtree)):
                continue
            try:
                entries = _sorted_entries(os.path.join(root_bytes, rel))
            except OSError:
                continue
            stack.append(iter(entries))
            rel_dirs.append(subtree)
            continue
        if (after is not None and rel <= after) or not rel.startswith(wanted):
            continue
        path = os.path.join(root_bytes, rel)
        try:
            info = os.stat(path, follow_symlinks=False)
        except OSError:
            continue
        yield rel, path, info


def list_directory(
    root: str, prefix: str = "", after: bytes | None = None, *, md5: bool = False
) -> Iterator[tuple[bytes, ObjectRecord | ErrorRecord]]:
    """(relative path, record) for the regular files of a directory, in S3 key order."""
    if not os.path.isdir(root):
        raise FatalError(f"{root} is not a directory")
    for rel, path, info in walk_files(root, prefix, after):
        if not stat.S_ISREG(info.st_mode):
            continue
        try:
            key = rel.decode("utf-8")
        except UnicodeDecodeError:
            yield (
                rel,
                ErrorRecord(
                    stage="s3-manifest",
                    message="file name is not valid UTF-8, so it cannot be an S3 key",
                    input=path.decode("utf-8", "backslashreplace")[:200],
                ),
            )
            continue
        yield (
            rel,
            ObjectRecord(
                bucket=root,
                key=key,
                size=info.st_size,
                etag=file_etag(os.fsdecode(path), None) if md5 else None,
                last_modified=format_timestamp(info.st_mtime),
                storage_class=None,
            ),
        )
