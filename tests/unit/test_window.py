"""The ordered window driver: input order out, FLUSH while waiting, work in flight finished
on bad input, work not started cancelled on close, and futures from another engine."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Iterator

import pytest

from lib.engine.window import AdaptiveWindow, ordered_results
from lib.leaves.flush import FLUSH


def results(items: Iterator[object]) -> list[object]:
    return [item for item in items if item is not FLUSH]


def test_results_come_in_input_order_however_the_work_finishes() -> None:
    def work(n: int) -> int:
        time.sleep(0.01 * (5 - n))  # the first ones finish last
        return n * 10

    handed_out = results(ordered_results(range(5), work, window=5))
    assert handed_out == [(n, n * 10) for n in range(5)]


def test_work_started_is_finished_and_handed_out_before_an_input_error() -> None:
    def items() -> Iterator[int]:
        yield from range(5)
        raise ValueError("line 6: bad")

    def work(n: int) -> int:
        time.sleep(0.01 * (5 - n))
        return n * 10

    handed_out = []
    with pytest.raises(ValueError, match="line 6"):
        for item in ordered_results(items(), work, window=8):
            if item is not FLUSH:
                handed_out.append(item)
    assert handed_out == [(n, n * 10) for n in range(5)]


def test_flush_while_the_oldest_runs_even_when_a_later_one_is_done() -> None:
    release = threading.Event()
    second_done = threading.Event()

    def work(n: int) -> int:
        if n == 0:
            release.wait(5)
        else:
            second_done.set()
        return n

    driver = ordered_results(range(2), work, window=2)
    assert next(driver) is FLUSH
    assert second_done.wait(5)
    assert next(driver) is FLUSH  # item 1 is done, but item 0 comes first
    release.set()
    assert results(driver) == [(0, 0), (1, 1)]


def test_an_error_of_the_work_comes_at_its_turn_after_earlier_results() -> None:
    def work(n: int) -> int:
        if n == 2:
            raise RuntimeError("exit 3")
        return n

    handed_out = []
    with pytest.raises(RuntimeError, match="exit 3"):
        for item in ordered_results(range(5), work, window=5):
            if item is not FLUSH:
                handed_out.append(item)
    assert handed_out == [(0, 0), (1, 1)]


def test_closing_the_driver_cancels_the_work_not_started() -> None:
    release = threading.Event()
    ran: list[int] = []

    def work(n: int) -> int:
        ran.append(n)
        release.wait(5)
        return n

    driver = ordered_results(range(10), work, window=4, workers=1)
    assert next(driver) is FLUSH
    driver.close()
    release.set()
    time.sleep(0.1)  # a queued item that was not cancelled would run now
    assert ran == [0]


def test_an_adaptive_window_limits_what_is_in_flight() -> None:
    window = AdaptiveWindow(4)
    window.throttle()
    window.throttle()  # down to 1
    running = 0
    most = 0
    lock = threading.Lock()

    def work(n: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.005)
        with lock:
            running -= 1
        return n

    assert results(ordered_results(range(6), work, window=window)) == [(n, n) for n in range(6)]
    assert most == 1


class Engine:
    """Hands out futures it completes itself, three at a time and newest first, from a
    timer thread: no thread per request, as an asynchronous request engine."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, concurrent.futures.Future[str]]] = []

    def submit(self, key: str) -> concurrent.futures.Future[str]:
        future: concurrent.futures.Future[str] = concurrent.futures.Future()
        self.requests.append((key, future))
        if len(self.requests) % 3 == 0:
            threading.Timer(0.01, self._finish, [self.requests[-3:]]).start()
        return future

    def _finish(self, batch: list[tuple[str, concurrent.futures.Future[str]]]) -> None:
        for key, future in reversed(batch):
            future.set_result(f"head {key}")


def test_work_submitted_to_another_engine_keeps_input_order_and_starts_no_pool() -> None:
    engine = Engine()
    keys = [f"k{n}" for n in range(6)]
    before = {thread.name for thread in threading.enumerate()}
    handed_out = results(ordered_results(keys, submit=engine.submit, window=3))
    assert handed_out == [(key, f"head {key}") for key in keys]
    assert len(engine.requests) == 6
    started = {thread.name for thread in threading.enumerate()} - before
    assert not any(name.startswith("s3deep") for name in started)


def test_closing_the_driver_cancels_the_futures_of_another_engine() -> None:
    futures: list[concurrent.futures.Future[int]] = []

    def submit(n: int) -> concurrent.futures.Future[int]:
        futures.append(concurrent.futures.Future())
        return futures[-1]

    driver = ordered_results(range(10), submit=submit, window=3)
    assert next(driver) is FLUSH
    driver.close()
    assert len(futures) == 3 and all(future.cancelled() for future in futures)


def test_a_result_that_is_a_future_is_waited_for_in_turn() -> None:
    """Work that went on elsewhere (s3-check's verdicts that need another request): its
    future's result is handed out in its turn, FLUSH while it runs, its error raised."""
    pool = concurrent.futures.ThreadPoolExecutor(2)
    release = threading.Event()

    def later(n: int) -> int:
        release.wait(5)
        if n == 4:
            raise LookupError("item 4")
        return n * 10

    def submit(n: int) -> concurrent.futures.Future[object]:
        done: concurrent.futures.Future[object] = concurrent.futures.Future()
        done.set_result(pool.submit(later, n) if n % 2 == 0 else n * 10)
        return done

    driver = ordered_results(range(6), submit=submit, window=6)
    assert next(driver) is FLUSH  # item 0 goes on on a thread
    release.set()
    handed_out = []
    with pytest.raises(LookupError, match="item 4"):
        for item in driver:
            if item is not FLUSH:
                handed_out.append(item)
    assert handed_out == [(0, 0), (1, 10), (2, 20), (3, 30)]
    pool.shutdown()


def test_the_driver_needs_exactly_one_way_to_run_the_work() -> None:
    with pytest.raises(TypeError):
        next(ordered_results(range(3), window=2))
