"""Sorting more items than fit in memory: sorted runs on disk, merged with heapq.merge.

Items are flat tuples whose natural order is the wanted order (for records: the
key's UTF-8 bytes first, then tie-breakers) and whose fields msgpack carries
(bytes, str, int, bool, None). At most `run_size` items are in memory at once;
each full buffer is sorted and written to a run file in a private temp
directory, and the runs are merged, at most `fan_in` open at a time (more runs
are first merged in groups into longer runs). Input that fits in one buffer
never touches the disk. The temp directory goes away when the sorted iterator
is exhausted or closed.
"""

from __future__ import annotations

import heapq
import os
import struct
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

DEFAULT_RUN_SIZE = 100_000
FAN_IN = 64
_LENGTH = struct.Struct(">I")
_READ_BUFFER = 1 << 18

Item = tuple[Any, ...]
_END = object()


def external_sort(
    items: Iterable[Item],
    *,
    run_size: int = DEFAULT_RUN_SIZE,
    directory: str | None = None,
    fan_in: int = FAN_IN,
) -> Iterator[Item]:
    """`items` in sorted order, holding at most `run_size` of them in memory."""
    if run_size < 1 or fan_in < 2:
        raise ValueError("run_size must be at least 1 and fan_in at least 2")
    buffer: list[Item] = []
    iterator = iter(items)
    for item in iterator:
        buffer.append(item)
        if len(buffer) >= run_size:
            break
    following = next(iterator, _END)
    if not isinstance(following, tuple):
        buffer.sort()
        yield from buffer
        return
    with tempfile.TemporaryDirectory(prefix="s3deep-sort-", dir=directory) as scratch:
        runs = _Runs(scratch)
        buffer.sort()
        runs.write(buffer)
        buffer = [following]
        for item in iterator:
            buffer.append(item)
            if len(buffer) >= run_size:
                buffer.sort()
                runs.write(buffer)
                buffer = []
        if buffer:
            buffer.sort()
            runs.write(buffer)
            buffer = []
        yield from runs.merged(fan_in)


class _Runs:
    """Run files in one directory, written and read as length-prefixed msgpack frames."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.paths: list[str] = []
        self._count = 0
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(tuple)

    def write(self, items: Iterable[Item]) -> str:
        path = os.path.join(self.directory, f"run-{self._count:06d}")
        self._count += 1
        encode, pack = self._encoder.encode, _LENGTH.pack
        with open(path, "wb", buffering=_READ_BUFFER) as out:
            for item in items:
                frame = encode(item)
                out.write(pack(len(frame)))
                out.write(frame)
        self.paths.append(path)
        return path

    def read(self, path: str) -> Iterator[Item]:
        decode, unpack, size = self._decoder.decode, _LENGTH.unpack, _LENGTH.size
        with open(path, "rb", buffering=_READ_BUFFER) as run:
            while prefix := run.read(size):
                (length,) = unpack(prefix)
                item: Item = decode(run.read(length))
                yield item

    def merged(self, fan_in: int) -> Iterator[Item]:
        while len(self.paths) > fan_in:
            groups = [self.paths[i : i + fan_in] for i in range(0, len(self.paths), fan_in)]
            self.paths = []
            for group in groups:
                self.write(heapq.merge(*(self.read(path) for path in group)))
                for path in group:
                    os.unlink(path)
        yield from heapq.merge(*(self.read(path) for path in self.paths))
