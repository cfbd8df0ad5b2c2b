"""A sliding window of requests whose results come back in input order.

Up to `window` calls run at once; as soon as the oldest finishes it is handed
out and the next item is submitted. Output order is input order however the
calls finish, which keeps every stage's output deterministic.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from lib import interrupts
from lib.flush import FLUSH, Flush

T = TypeVar("T")
R = TypeVar("R")


WAKE_S = 0.5  # while waiting, hand control back this often (progress, commits)


def wait_for(future: concurrent.futures.Future[R], timeout: float | None = None) -> bool:
    """Waits for a future (at most `timeout` s) while still noticing SIGINT/SIGTERM."""
    waited = 0.0
    while timeout is None or waited < timeout:
        done, _ = concurrent.futures.wait([future], timeout=interrupts.POLL_S)
        if done:
            return True
        interrupts.raise_if_interrupted()
        waited += interrupts.POLL_S
    return False


class AdaptiveWindow:
    """How many calls may be in flight: halved on throttling, widened by one per success."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = limit
        self.throttled = 0
        self._lock = threading.Lock()

    def throttle(self) -> None:
        with self._lock:
            self.throttled += 1
            self.size = max(1, self.size // 2)

    def success(self) -> None:
        with self._lock:
            self.size = min(self.limit, self.size + 1)


def ordered_window(
    items: Iterable[T],
    work: Callable[[T], R],
    *,
    pool: concurrent.futures.Executor,
    window: int | AdaptiveWindow,
) -> Iterator[tuple[T, concurrent.futures.Future[R]] | Flush]:
    """(item, finished future) in input order; FLUSH now and then while the oldest runs.

    If reading the items fails (bad input), the calls already started are finished and
    handed out first, then the error is raised: nothing before it is left half done.
    """
    pending: deque[tuple[T, concurrent.futures.Future[R]]] = deque()
    source = iter(items)
    exhausted = False
    failure: Exception | None = None
    try:
        while True:
            limit = window if isinstance(window, int) else window.size
            while not exhausted and len(pending) < limit:
                try:
                    item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                except Exception as exc:
                    exhausted, failure = True, exc
                    break
                pending.append((item, pool.submit(work, item)))
            if not pending:
                if failure is not None:
                    raise failure
                return
            item, future = pending[0]
            while not future.done():
                yield FLUSH
                wait_for(future, WAKE_S)
            pending.popleft()
            yield item, future
    finally:
        for _, future in pending:
            future.cancel()
