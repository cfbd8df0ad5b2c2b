"""What a stage says on stderr, as text lines or, with --progress-format json, JSON lines.

Text (the default) is for people: `s3-check: error: …` and `s3-check: hint: …`, notes
as `s3-check: …`, and the progress line of lib/engine/progress.py. JSON is for supervisors,
log shippers and job controllers that read stderr line by line: every line is one
object, either

    {"type":"log","level":"info|warning|error","stage":…,"message":…,"hint":…}

or a progress event (`JsonProgress`)

    {"type":"progress","stage":…,"records":N,"bytes":N,"counts":{…},"elapsed_s":F,
     "rate":F,"total":N|null,"done":false}

sent at least every --progress-interval seconds by a timer thread (so a stage waiting
on a slow server still reports), and once more with "done": true at the end.

The format is one setting of the process, chosen by the options' callbacks (and by
`launch` in stages/cli.py from the command line itself, so typer's own usage errors
follow it).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from lib.engine.progress import LIVE_INTERVAL_S, PLAIN_INTERVAL_S, Progress
from lib.leaves.errors import redact


class _Settings:
    json = False
    interval: float | None = None  # --progress-interval; None: the default of the stream


settings = _Settings()
_lock = threading.Lock()  # one line at a time from the main and the timer thread


def use_format(value: str) -> str:
    """The --progress-format callback."""
    settings.json = value == "json"
    return value


def use_interval(value: float | None) -> float | None:
    """The --progress-interval callback."""
    settings.interval = value
    return value


def json_requested(argv: list[str]) -> bool:
    """Whether a command line asks for JSON, read before typer parses it."""
    for index, arg in enumerate(argv):
        if arg == "--progress-format=json":
            return True
        if arg == "--progress-format" and argv[index + 1 : index + 2] == ["json"]:
            return True
    return False


def write_json(event: dict[str, Any], stream: TextIO | None = None) -> None:
    import msgspec  # here: every stage's --help imports this module, and needs no JSON

    line = msgspec.json.encode(event).decode() + "\n"
    target = stream or sys.stderr
    with _lock:
        target.write(line)
        target.flush()


def log(
    stage: str,
    level: str,
    message: str,
    hint: str | None = None,
    stream: TextIO | None = None,
) -> None:
    """One note, warning or error: a JSON line, or the text lines it has always been.
    A user and password written into a URL are shown as `***` either way."""
    message, hint = redact(message), (redact(hint) if hint else hint)
    if settings.json:
        event = {"type": "log", "level": level, "stage": stage, "message": message, "hint": hint}
        write_json(event, stream)
        return
    target = stream or sys.stderr
    prefix = "error: " if level == "error" else ""
    target.write(f"{stage}: {prefix}{message}\n")
    if hint:
        target.write(f"{stage}: hint: {hint}\n")
    target.flush()


def note(stage: str, message: str) -> None:
    log(stage, "info", message)


def new_progress(
    stage: str, verb: str, *, enabled: bool, quiet: bool, total: int | None = None
) -> Progress:
    """The progress reporter of the chosen format."""
    kind = JsonProgress if settings.json else Progress
    progress = kind(stage, verb, enabled=enabled, quiet=quiet, total=total)
    if settings.interval is not None:
        progress.interval = settings.interval
        progress._next = progress.started + settings.interval
    return progress


class JsonProgress(Progress):
    """Progress events on stderr as JSON lines, from a timer thread that reads the
    counters the stage's loop keeps (see `follow`)."""

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        self.live = False  # no carriage returns: every event is a line of its own
        self.interval = LIVE_INTERVAL_S if self.stream.isatty() else PLAIN_INTERVAL_S
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._first = 0

    def due(self, now: float) -> bool:
        return False  # the timer thread reports

    def follow(self, snapshot: Callable[[], tuple[int, dict[str, int], int]]) -> None:
        """Starts reporting `snapshot()` (records, counts, bytes) every interval."""
        if not self.enabled or self._thread is not None:
            return
        self._first = snapshot()[0]  # records of earlier runs: not part of this run's rate
        self._thread = threading.Thread(
            target=self._tick, args=(snapshot,), name="progress", daemon=True
        )
        self._thread.start()

    def _tick(self, snapshot: Callable[[], tuple[int, dict[str, int], int]]) -> None:
        while not self._stop.wait(self.interval):
            try:
                done, counts, nbytes = snapshot()
                counts = dict(counts)
            except RuntimeError:  # the loop added a status while we copied: next time
                continue
            now = time.monotonic()
            elapsed = now - self.started
            rate = (done - self._first) / elapsed if elapsed > 0 else 0.0
            self._event(done, counts, nbytes, elapsed, rate, finished=False)

    def _event(
        self,
        done: int,
        counts: dict[str, int],
        nbytes: int,
        elapsed: float,
        rate: float,
        *,
        finished: bool,
    ) -> None:
        event = {
            "type": "progress",
            "stage": self.stage,
            "records": done,
            "bytes": nbytes,
            "counts": counts,
            "elapsed_s": round(elapsed, 3),
            "rate": round(rate, 1),
            "total": self.total,
            "done": finished,
        }
        write_json(event, self.stream)

    def report(self, now: float, done: int, counts: dict[str, int], nbytes: int) -> None:
        elapsed = now - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        self._event(done, dict(counts), nbytes, elapsed, rate, finished=False)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def finish(
        self, done: int, counts: dict[str, int], nbytes: int, elapsed: float, **_: bool
    ) -> None:
        """The last event, `"done": true`, in place of the human line."""
        self.stop()
        if self.quiet:
            return
        rate = done / elapsed if elapsed > 0 else 0.0
        self._event(done, dict(counts), nbytes, elapsed, rate, finished=True)

    def message(self, text: str, level: str = "info") -> None:
        log(self.stage, level, text, stream=self.stream)

    def clear(self) -> None:
        pass
