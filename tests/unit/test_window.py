"""The ordered sliding window: input order out, and work in flight finished on bad input."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator

import pytest

from lib.flush import FLUSH
from lib.window import ordered_window


def test_results_in_input_order_and_work_started_is_finished_before_an_input_error() -> None:
    def items() -> Iterator[int]:
        yield from range(5)
        raise ValueError("line 6: bad")

    def work(n: int) -> int:
        time.sleep(0.05 * (5 - n))  # the first ones finish last
        return n * 10

    handed_out = []
    with (
        concurrent.futures.ThreadPoolExecutor(8) as pool,
        pytest.raises(ValueError, match="line 6"),
    ):
        for item in ordered_window(items(), work, pool=pool, window=8):
            if item is not FLUSH:
                handed_out.append(item[1].result())
    assert handed_out == [0, 10, 20, 30, 40]
