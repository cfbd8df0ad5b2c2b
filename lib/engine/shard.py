"""`--shard K/N`: which part of the work this process does, when N processes share it.

K is 0-based (0 <= K < N), like the array indexes that job engines hand out
(`JOB_COMPLETION_INDEX`, `AWS_BATCH_JOB_ARRAY_INDEX`). s3-manifest splits the key
space into N ordered ranges and lists the K-th; the other stages keep the records
whose key hashes to K (`Shard.keeps`), so every worker agrees without talking.

The key hashed is the key of the record a stage writes (for s3-check, the target
key, whether it comes from the input or from the listing), so the N outputs are
disjoint and their union is the output of one unsharded run. Records without a key
(error records of unreadable input lines) belong to shard 0, so they appear once.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

from lib.leaves.errors import UsageError

# (index variable, count variable) per job engine, tried in this order by `--shard env`.
ENGINES = (
    ("JOB_COMPLETION_INDEX", "JOB_COMPLETIONS"),  # Kubernetes Indexed Job
    ("AWS_BATCH_JOB_ARRAY_INDEX", "AWS_BATCH_JOB_ARRAY_SIZE"),  # AWS Batch array job
)


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    def keeps(self, key: str) -> bool:
        """Whether this shard owns `key`: a stable hash of its UTF-8 bytes, mod N."""
        return (
            self.count == 1
            or zlib.crc32(key.encode("utf-8", "surrogatepass")) % self.count == self.index
        )

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


class ShardFilter:
    """Decides which records this process does, and counts those left to the others."""

    def __init__(self, shard: Shard | None) -> None:
        self.shard = shard
        self.left = 0

    def keeps(self, key: str | None) -> bool:
        """Whether this shard owns the record written for `key` (None: a keyless record)."""
        shard = self.shard
        if shard is None:
            return True
        owned = shard.index == 0 if key is None else shard.keeps(key)
        if not owned:
            self.left += 1
        return owned

    def note(self) -> str | None:
        """The closing line about the other shards' part, if this run is a shard."""
        if self.shard is None:
            return None
        return (
            f"shard {self.shard}: {self.left} input record(s) read in this run belong to "
            "the other shards and were left to them"
        )


def checkpoint_arguments(shard: Shard | None) -> dict[str, str]:
    """The shard as a checkpoint argument: each shard keeps, and accepts, only its own.

    Nothing for an unsharded run, so its checkpoints stay those of earlier versions.
    """
    return {"shard": str(shard)} if shard is not None else {}


def estimated_total(total: int | None, shard: Shard | None) -> int | None:
    """This shard's part of the input's record count, for the progress ETA."""
    if total is None or shard is None:
        return total
    return -(-total // shard.count)


def parse_shard(text: str | None, environ: Mapping[str, str] | None = None) -> Shard | None:
    """`K/N`, `env` (from the job engine's variables) or None (no sharding)."""
    if text is None:
        return None
    if text == "env":
        return _from_environment(os.environ if environ is None else environ)
    index, slash, count = text.partition("/")
    if not slash or not index.strip().isdigit() or not count.strip().isdigit():
        raise UsageError(f"--shard {text!r}: expected K/N (e.g. 0/4) or env")
    return _checked(int(index), int(count), f"--shard {text}")


def _from_environment(environ: Mapping[str, str]) -> Shard:
    for index_var, count_var in ENGINES:
        if index_var in environ:
            if count_var not in environ:
                # Kubernetes sets only the index: the Job's pod template sets the count.
                raise UsageError(
                    f"--shard env: {index_var} is set but {count_var} is not",
                    hint=f"set {count_var} to the number of shards in the job's environment",
                )
            index, count = environ[index_var], environ[count_var]
            if not index.isdigit() or not count.isdigit():
                raise UsageError(
                    f"--shard env: {index_var}={index!r} and {count_var}={count!r} "
                    "must both be whole numbers"
                )
            return _checked(int(index), int(count), f"--shard env ({index_var}, {count_var})")
    names = ", ".join(f"{i}/{c}" for i, c in ENGINES)
    raise UsageError(f"--shard env: none of the job engines' variables is set ({names})")


def _checked(index: int, count: int, what: str) -> Shard:
    if count < 1 or not 0 <= index < count:
        raise UsageError(f"{what}: K must satisfy 0 <= K < N (K={index}, N={count})")
    return Shard(index, count)
