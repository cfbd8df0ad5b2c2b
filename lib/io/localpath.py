"""Keys as files under a local directory, opened so that no key can leave it.

A local directory is a security boundary (DESIGN.md, "Progress and logs"): a key
with `..`, `.` or empty segments, or an absolute key, is refused before any system
call, and the path is then walked one directory at a time from the root, each
component opened with O_DIRECTORY|O_NOFOLLOW relative to the one before. A symlink
anywhere on the path is refused at the moment it is opened, so a link swapped in
after a check cannot redirect a read, a write or a delete. Temporary files get a
unique name and are created with O_EXCL|O_NOFOLLOW, never through an existing link.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from typing import IO

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO planted at a key must not hang the stage.
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class RefusedPath(Exception):
    """A key that would reach outside its directory, or through a symlink."""


def key_problem(key: str) -> str | None:
    """Why `key` can never name a file under a directory, or None."""
    if key.startswith("/"):
        return "the key is absolute"
    if "\0" in key:
        return "the key contains a NUL byte"
    if any(part in ("", ".", "..") for part in key.split("/")):
        return "the key has an empty, '.' or '..' segment"
    return None


class LocalRoot:
    """One local directory whose files are named by keys (`a/b.txt`)."""

    def __init__(self, root: str) -> None:
        self.root = root

    def stat(self, key: str) -> os.stat_result | None:
        """The file's own stat (a symlink is refused), or None if nothing is there."""
        try:
            with self._parent(key) as (fd, name):
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat.S_ISLNK(info.st_mode):
            raise RefusedPath(f"{key} is a symlink")
        return info

    def open(self, key: str) -> IO[bytes]:
        """The regular file at `key`, open for reading."""
        with self._parent(key) as (parent, name):
            try:
                fd = os.open(name, _READ, dir_fd=parent)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise RefusedPath(f"{key} is a symlink") from None
                raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise RefusedPath(f"{key} is not a regular file")
        os.set_blocking(fd, True)
        return open(fd, "rb")

    def write(self, key: str, chunks: Iterable[bytes]) -> tuple[int, str]:
        """Writes the file atomically (a fresh temp file, fsynced, renamed over `key`,
        the directory fsynced); creates missing directories; returns (bytes, MD5)."""
        with self._parent(key, create=True) as (parent, name):
            if _is_link(parent, name):
                raise RefusedPath(f"{key} is a symlink")
            temp = f".{name}.{secrets.token_hex(6)}.s3deep-partial"
            digest = hashlib.md5(usedforsecurity=False)
            size = 0
            fd = os.open(temp, _NEW_FILE, 0o666, dir_fd=parent)
            try:
                with open(fd, "wb") as handle:
                    for chunk in chunks:
                        handle.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temp, name, src_dir_fd=parent, dst_dir_fd=parent)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp, dir_fd=parent)
                raise
            os.fsync(parent)
        return size, digest.hexdigest()

    def remove(self, key: str) -> bool:
        """Unlinks the file; True if there was one. Then removes the directories above it
        that this unlink left empty, never the root and never one that holds anything."""
        parts = _parts(key)
        try:
            chain = self._chain(parts, create=False)
        except (FileNotFoundError, NotADirectoryError):
            return False
        try:
            parent, name = chain[-1], parts[-1]
            if _is_link(parent, name):
                raise RefusedPath(f"{key} is a symlink")
            try:
                os.unlink(name, dir_fd=parent)
            except FileNotFoundError:
                return False
            # chain[depth] is the directory parts[depth - 1] inside chain[depth - 1].
            for depth in range(len(chain) - 1, 0, -1):
                try:  # never follows a link; fails on a directory that holds anything
                    os.rmdir(parts[depth - 1], dir_fd=chain[depth - 1])
                except OSError:
                    break
            return True
        finally:
            for fd in chain:
                os.close(fd)

    # --- walking --------------------------------------------------------------------

    @contextlib.contextmanager
    def _parent(self, key: str, *, create: bool = False) -> Iterator[tuple[int, str]]:
        """(fd of the directory that holds the key's file, the file's name)."""
        parts = _parts(key)
        chain = self._chain(parts, create=create)
        try:
            yield chain[-1], parts[-1]
        finally:
            for fd in chain:
                os.close(fd)

    def _chain(self, parts: list[str], *, create: bool) -> list[int]:
        """Open fds of the root and of each directory of the key, in order; each opened
        relative to the one before, never through a link."""
        chain = [os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)]
        try:
            for part in parts[:-1]:
                chain.append(_open_directory(chain[-1], part, create=create))
        except RefusedPath:
            for fd in chain:
                os.close(fd)
            raise RefusedPath(f"{'/'.join(parts[: len(chain)])} is a symlink") from None
        except BaseException:
            for fd in chain:
                os.close(fd)
            raise
        return chain


def _open_directory(parent: int, name: str, *, create: bool) -> int:
    try:
        return os.open(name, _DIRECTORY, dir_fd=parent)
    except FileNotFoundError:
        if not create:
            raise
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o777, dir_fd=parent)
        return _open_directory(parent, name, create=False)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link(parent, name):
            raise RefusedPath(name) from None
        raise


def _is_link(parent: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return False


def _parts(key: str) -> list[str]:
    problem = key_problem(key)
    if problem:
        raise RefusedPath(problem)
    return key.split("/")
