"""The ordered window every per-record stage runs its requests in.

Up to `window` calls run at once; as soon as the oldest finishes its result is
handed out and the next item is submitted. Output order is input order however
the calls finish, which keeps every stage's output deterministic. s3-check's head
and read modes, s3-repair and s3-delete all drive their work through
`ordered_results`.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from lib.engine import interrupts
from lib.leaves.flush import FLUSH, Flush

T = TypeVar("T")
R = TypeVar("R")


WAKE_S = 0.5  # while waiting, hand control back this often (progress, commits)
# Before waiting for the oldest call alone, wait this long for the next few together:
# each wake of the waiting thread costs a thread switch, and calls mostly end in order.
GATHER = 8
GATHER_S = 0.005


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


def then(
    future: concurrent.futures.Future[T], step: Callable[[T], R]
) -> concurrent.futures.Future[R]:
    """A future of step(result), run as `future` completes (on the thread completing it);
    an exception of either ends the new future."""
    chained: concurrent.futures.Future[R] = concurrent.futures.Future()

    def done(finished: concurrent.futures.Future[T]) -> None:
        if chained.cancelled():
            return  # nobody waits for it any more
        try:
            chained.set_result(step(finished.result()))
        except BaseException as exc:  # handed to whoever waits for the result
            chained.set_exception(exc)

    future.add_done_callback(done)
    return chained


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
        if self.size < self.limit:  # mostly at the limit: nothing to widen, no lock taken
            with self._lock:
                self.size = min(self.limit, self.size + 1)


def ordered_results(
    items: Iterable[T],
    work: Callable[[T], R] | None = None,
    *,
    window: int | AdaptiveWindow,
    workers: int | None = None,
    name: str = "s3deep",
    submit: Callable[[T], concurrent.futures.Future[R]] | None = None,
) -> Iterator[tuple[T, R] | Flush]:
    """(item, result) in input order; FLUSH now and then while the oldest is still running.

    Give one of `work` or `submit`. `work(item)` runs on a thread pool this generator
    owns (`workers` threads, by default the window's limit). `submit(item)` starts the
    work elsewhere and returns its future, for an engine whose requests need no thread
    each. At most `window` items are in flight (an AdaptiveWindow's size at the time).

    A result that is itself a future (the work went on elsewhere, on a thread) is waited
    for in turn. An exception of the work is raised at its item's turn, after every
    earlier result.
    If reading the items fails (bad input), the work already started is finished and
    handed out first, then the error is raised: nothing before it is left half done.
    However the generator ends (an error, or its consumer closing it), work not yet
    started is cancelled and the pool is shut down without waiting for what runs.
    """
    if (work is None) == (submit is None):
        raise TypeError("ordered_results needs either work or submit")
    if submit is not None:
        yield from _in_order(items, submit, window)
    elif work is not None:
        limit = window if isinstance(window, int) else window.limit
        yield from _in_threads(items, work, window, workers or limit, name)


def _in_threads(
    items: Iterable[T],
    work: Callable[[T], R],
    window: int | AdaptiveWindow,
    workers: int,
    name: str,
) -> Iterator[tuple[T, R] | Flush]:
    pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix=name)
    try:
        yield from _in_order(items, lambda item: pool.submit(work, item), window)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _in_order(
    items: Iterable[T],
    submit: Callable[[T], concurrent.futures.Future[R]],
    window: int | AdaptiveWindow,
) -> Iterator[tuple[T, R] | Flush]:
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
                pending.append((item, submit(item)))
            if not pending:
                if failure is not None:
                    raise failure
                return
            item, future = pending[0]
            if not future.done():
                yield FLUSH
                near = [call for _, call in itertools.islice(pending, GATHER)]
                concurrent.futures.wait(near, timeout=GATHER_S)
            while not future.done():
                yield FLUSH
                wait_for(future, WAKE_S)
            pending.popleft()
            result = future.result()
            while isinstance(result, concurrent.futures.Future):  # its work went on elsewhere
                while not result.done():
                    yield FLUSH
                    wait_for(result, WAKE_S)
                result = result.result()
            yield item, result
    finally:
        for _, future in pending:
            future.cancel()
