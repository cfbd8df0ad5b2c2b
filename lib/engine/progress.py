"""Progress on stderr: a live line on a terminal, a plain line every 10 s otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from lib.leaves.errors import redact

LIVE_INTERVAL_S = 0.25
PLAIN_INTERVAL_S = 10.0


def human_bytes(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def human_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def describe_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {status}" for status, n in counts.items() if n)


class Progress:
    """Reports a stage's progress; `due(now)` is cheap enough to ask per record, and
    `report` writes a line only when it is due."""

    def __init__(
        self,
        stage: str,
        verb: str,
        *,
        enabled: bool,
        quiet: bool,
        stream: TextIO | None = None,
        total: int | None = None,
    ) -> None:
        self.stage = stage
        self.verb = verb
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.enabled = enabled and not quiet
        self.live = self.enabled and self.stream.isatty()
        self.interval = LIVE_INTERVAL_S if self.live else PLAIN_INTERVAL_S
        self.total = total
        self.started = time.monotonic()
        self._next = self.started + self.interval
        self._live_width = 0
        self.done_before = 0  # records of the runs this one resumes: not this run's rate

    def resuming(self, records: int) -> None:
        """Says once that this run continues after `records`, which its rate leaves out."""
        self.done_before = records
        if not self.quiet:
            self.message(f"resuming after {records} records")

    def due(self, now: float) -> bool:
        return self.enabled and now >= self._next

    def report(self, now: float, done: int, counts: dict[str, int], nbytes: int) -> None:
        self._next = now + self.interval
        elapsed = now - self.started
        rate = (done - self.done_before) / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.stage}: {done} {self.verb}", f"{rate:.0f}/s"]
        if nbytes:
            parts.append(human_bytes(nbytes))
        counted = describe_counts(counts)
        if counted and [n for n in counts.values() if n] != [done]:  # not `done` again
            parts.append(counted)
        parts.append(human_duration(elapsed))
        if self.total and rate > 0 and done < self.total:
            parts.append(f"ETA {human_duration((self.total - done) / rate)}")
        line = " | ".join(parts)
        if self.live:
            padding = " " * max(0, self._live_width - len(line))
            self.stream.write(f"\r{line}{padding}")
            self._live_width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(
        self,
        done: int,
        counts: dict[str, int],
        nbytes: int,
        elapsed: float,
        *,
        throughput: bool = False,
    ) -> None:
        """The one human line at the end, e.g. `s3-check: 10 checked in 1.0s (10/s): 10 ok`."""
        self.clear()
        if self.quiet:
            return
        rate = done / elapsed if elapsed > 0 else 0.0
        line = f"{self.stage}: {done} {self.verb} in {elapsed:.1f}s ({rate:.0f}/s)"
        details = describe_counts(counts)
        if nbytes:
            amount = human_bytes(nbytes)
            if throughput and elapsed > 0:
                amount += f" ({human_bytes(int(nbytes / elapsed))}/s)"
            details = f"{details}, {amount}" if details else amount
        self.stream.write(f"{line}: {details}\n" if details else line + "\n")
        self.stream.flush()

    def follow(self, snapshot: Callable[[], tuple[int, dict[str, int], int]]) -> None:
        """Text progress is reported from the stage's loop (`due`, `report`); JSON progress
        (lib/engine/logs.py) reads `snapshot()` from a timer thread."""

    def stop(self) -> None:
        """Stops reporting before the stage's last words (nothing to stop for text)."""

    def message(self, text: str, level: str = "info") -> None:  # level: for JSON
        self.clear()
        self.stream.write(f"{self.stage}: {redact(text)}\n")  # as lib/engine/logs.py does
        self.stream.flush()

    def clear(self) -> None:
        if self.live and self._live_width:
            self.stream.write("\r" + " " * self._live_width + "\r")
            self._live_width = 0
