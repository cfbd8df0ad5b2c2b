"""A sliding window of requests whose results come back in input order.

Up to `window` calls run at once; as soon as the oldest finishes it is handed
out and the next item is submitted. Output order is input order however the
calls finish, which keeps every stage's output deterministic.
"""

from __future__ import annotations

import concurrent.futures
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from lib import interrupts

T = TypeVar("T")
R = TypeVar("R")


def wait_for(future: concurrent.futures.Future[R]) -> None:
    """Waits for a future while still noticing SIGINT/SIGTERM."""
    while True:
        done, _ = concurrent.futures.wait([future], timeout=interrupts.POLL_S)
        if done:
            return
        interrupts.raise_if_interrupted()


def ordered_window(
    items: Iterable[T],
    work: Callable[[T], R],
    *,
    pool: concurrent.futures.Executor,
    window: int,
) -> Iterator[tuple[T, concurrent.futures.Future[R]] | None]:
    """(item, finished future) in input order; None before waiting on the oldest call."""
    pending: deque[tuple[T, concurrent.futures.Future[R]]] = deque()
    source = iter(items)
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < window:
                try:
                    item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                pending.append((item, pool.submit(work, item)))
            if not pending:
                return
            item, future = pending[0]
            if not future.done():
                yield None
                wait_for(future)
            pending.popleft()
            yield item, future
    finally:
        for _, future in pending:
            future.cancel()
