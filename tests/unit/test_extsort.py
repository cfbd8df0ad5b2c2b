"""The external sort: sorted runs on disk, merged in bounded fan-in; small input stays in memory."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from lib.io.extsort import external_sort


def items(count: int, seed: int) -> list[tuple[bytes, int, bytes]]:
    rng = random.Random(seed)
    return [
        (rng.choice([b"a", b"a/b", b"\xc3\xa9", b"", b"z" * 5]), rng.randrange(-5, 5), b"%d" % n)
        for n in range(count)
    ]


@pytest.mark.parametrize(
    ("count", "run_size", "fan_in"), [(0, 3, 2), (2, 3, 2), (50, 3, 2), (1000, 7, 3)]
)
def test_output_is_the_sorted_input(count: int, run_size: int, fan_in: int, tmp_path: Path) -> None:
    data = items(count, seed=count)
    result = list(external_sort(data, run_size=run_size, directory=str(tmp_path), fan_in=fan_in))
    assert result == sorted(data)
    assert all(type(item) is tuple for item in result)
    assert os.listdir(tmp_path) == []  # runs removed once merged


def test_input_that_fits_in_one_run_never_touches_the_disk(tmp_path: Path) -> None:
    sorted_items = external_sort(iter(items(5, 1)), run_size=5, directory=str(tmp_path))
    next(sorted_items)
    assert os.listdir(tmp_path) == []


def test_closing_early_removes_the_runs(tmp_path: Path) -> None:
    sorted_items = external_sort(items(100, 2), run_size=10, directory=str(tmp_path))
    first = next(sorted_items)
    assert first == min(items(100, 2))
    assert len(os.listdir(tmp_path)) == 1  # the private directory of the runs
    sorted_items.close()
    assert os.listdir(tmp_path) == []
