"""The checkpoint file: what a stage has durably done, and how to continue.

A commit is: output flushed and fsynced (by the writer), then this state written
to a temp file, fsynced, renamed over the checkpoint, and the directory fsynced.
A crash between the two leaves the older checkpoint, whose output offset is
shorter than the file; the resumed run truncates the output back to it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from typing import Any

import msgspec

from lib.errors import FatalError, UsageError

CHECKPOINT_VERSION = 1


class CheckpointState(msgspec.Struct, kw_only=True):
    version: int = CHECKPOINT_VERSION
    stage: str
    fingerprint: str
    arguments: dict[str, Any] = msgspec.field(default_factory=dict)
    started: str = ""
    output_offset: int = 0
    records_out: int = 0
    cursor: dict[str, Any] = msgspec.field(default_factory=dict)
    counts: dict[str, int] = msgspec.field(default_factory=dict)
    bytes: int = 0
    elapsed_s: float = 0.0
    resumed: int = 0
    complete: bool = False
    exit_code: int | None = None


def fingerprint(stage: str, arguments: dict[str, Any]) -> str:
    """A stable digest of everything that decides a stage's output."""
    canonical = msgspec.json.encode({"stage": stage, "arguments": arguments}, order="sorted")
    return hashlib.sha256(canonical).hexdigest()


class Checkpoint:
    """Loads, checks and atomically saves one stage's checkpoint file."""

    def __init__(self, path: str, stage: str, arguments: dict[str, Any]) -> None:
        self.path = os.path.abspath(path)
        self.stage = stage
        self.arguments = arguments
        self.fingerprint = fingerprint(stage, arguments)
        self._encoder = msgspec.json.Encoder()

    def load(self, *, restart: bool) -> CheckpointState | None:
        """The saved state to resume from, or None to start fresh."""
        if restart:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            return None
        try:
            with open(self.path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise UsageError(f"cannot read checkpoint {self.path}: {exc.strerror}") from None
        try:
            state = msgspec.json.decode(data, type=CheckpointState)
        except msgspec.DecodeError as exc:
            raise UsageError(
                f"checkpoint {self.path} is not a valid checkpoint: {exc}",
                hint="pass --restart to start over",
            ) from None
        if state.stage != self.stage or state.fingerprint != self.fingerprint:
            raise UsageError(
                f"checkpoint {self.path} was made by {state.stage} with other arguments "
                f"({describe_difference(state.arguments, self.arguments)})",
                hint="rerun with the original arguments, or pass --restart to start over",
            )
        return state

    def save(self, state: CheckpointState) -> None:
        """Saves atomically; a failure (disk full, read-only) leaves the last checkpoint."""
        try:
            self._save(state)
        except OSError as exc:
            raise FatalError(
                f"cannot save checkpoint {self.path}: {exc.strerror or exc}",
                hint="the previous checkpoint is intact; rerun once the disk is writable",
            ) from None

    def _save(self, state: CheckpointState) -> None:
        directory = os.path.dirname(self.path)
        temp = f"{self.path}.tmp"
        data = self._encoder.encode(state)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, self.path)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def describe_difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    changed = sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))
    return "differs in: " + ", ".join(changed) if changed else "another stage version"
