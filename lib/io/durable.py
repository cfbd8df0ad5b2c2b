"""Making a rename survive a crash: after `os.replace`, the directory that holds the
new name is fsynced too, or a power cut may bring back the old file."""

from __future__ import annotations

import os


def fsync_directory(path: str) -> None:
    """Flushes the directory `path` (its entries: the names in it) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
