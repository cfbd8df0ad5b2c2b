"""The checkpoint file: what a stage has durably done, and how to continue.

A commit is: output flushed and fsynced (by the writer), then this state written
to a temp file, fsynced, renamed over the checkpoint, and the directory fsynced.
A crash between the two leaves the older checkpoint, whose output offset is
shorter than the file; the resumed run truncates the output back to it.

One checkpoint serves one run at a time: a run holds `CheckpointLock` (an flock on
FILE.lock, which the kernel drops when the process dies, so a killed run never
blocks its rerun) from before it reads the checkpoint or opens its output until
it ends. The lock file names its holder, so a second run can say who it is.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import socket
from typing import Any

import msgspec

from lib.io.durable import fsync_directory
from lib.leaves.errors import FatalError, UsageError
from lib.leaves.records import utc_now

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


_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class CheckpointLock:
    """The exclusive lock of one checkpoint, on FILE.lock beside it, naming its holder.

    The lock file is never deleted: unlinking it while another run waits to open it
    would let two runs hold locks on two different files of the same name.
    """

    def __init__(self, checkpoint: str) -> None:
        self.checkpoint = os.path.abspath(checkpoint)
        self.path = f"{self.checkpoint}.lock"
        self._fd: int | None = None
        if os.path.exists(self.checkpoint) and not os.path.isfile(self.checkpoint):
            # Saving renames a new file over the path, and --restart unlinks it: given
            # /dev/null, both would replace the device for every process on the machine.
            raise UsageError(
                f"--checkpoint {checkpoint}: not a regular file",
                hint="a checkpoint is a file this stage replaces as it goes; "
                "give a file's path, or leave --checkpoint out",
            )

    def acquire(self) -> None:
        """Takes the lock at once, or exits 3 naming the run that holds it."""
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags, 0o600)
        except OSError as exc:
            why = "it is a symlink" if exc.errno == errno.ELOOP else exc.strerror or str(exc)
            message = f"cannot lock checkpoint {self.checkpoint}: {self.path}: {why}"
            raise FatalError(message) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
            os.close(fd)
            raise FatalError(
                f"checkpoint {self.checkpoint} is in use by another run "
                f"({holder or 'a process that is just starting'})",
                hint="one checkpoint serves one run at a time; wait for that run to end, "
                "or give this one another --checkpoint",
            ) from None
        except OSError as exc:
            os.close(fd)
            raise FatalError(f"cannot lock checkpoint {self.checkpoint}: {exc.strerror}") from None
        holder = f"pid {os.getpid()} on {socket.gethostname()}, started {utc_now()}\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


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
        # This run's own name (only the lock holder saves), created exclusively and never
        # through a link; a leftover of a dead run that had the same PID is replaced.
        temp = f"{self.path}.{os.getpid()}.tmp"
        data = self._encoder.encode(state)
        try:
            fd = os.open(temp, _NEW_FILE, 0o600)
        except FileExistsError:
            os.unlink(temp)
            fd = os.open(temp, _NEW_FILE, 0o600)
        try:
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        fsync_directory(directory)


def describe_difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    changed = sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))
    return "differs in: " + ", ".join(changed) if changed else "another stage version"
