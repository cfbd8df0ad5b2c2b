"""SIGINT/SIGTERM become a flag that stages check at safe points.

A signal never interrupts a stage in the middle of writing a record or between
writing it and noting its cursor: handlers only set a flag, and the stage raises
`Interrupted` where the state is consistent (between records, and while waiting
for the network, which always happens in a polling wait).
"""

from __future__ import annotations

import queue
import signal
from types import FrameType
from typing import TypeVar

from lib.leaves.errors import ExitCode, Interrupted

POLL_S = 0.1
_pending: Interrupted | None = None

T = TypeVar("T")


def _handler(signum: int, frame: FrameType | None) -> None:
    global _pending
    if signum == signal.SIGTERM:
        _pending = Interrupted(ExitCode.SIGTERM, "SIGTERM")
    else:
        _pending = Interrupted(ExitCode.SIGINT, "SIGINT")


def install() -> None:
    global _pending
    _pending = None
    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)


def raise_if_interrupted() -> None:
    if _pending is not None:
        raise _pending


def wait_get(source: queue.Queue[T]) -> T:
    """queue.get that still notices SIGINT/SIGTERM while it waits."""
    while True:
        try:
            return source.get(timeout=POLL_S)
        except queue.Empty:
            raise_if_interrupted()
