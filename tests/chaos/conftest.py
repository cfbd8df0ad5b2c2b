"""Chaos tests: the stages killed, interrupted, faulted, starved of disk and fed bad input.

Every test here is marked `chaos` (`make chaos` runs only them; `make test` runs them
with the rest). Each builds a `Job` (tests/chaos/helpers.py): one stage's command on
fresh data plus what an uninterrupted, fault-free run writes, then breaks the run and
checks that nothing was lost. The figures (kills survived, faults injected, bad inputs
tried, records lost) are added to `figures`; tests/conftest.py sums them over the
xdist workers, prints them at the end of the session and keeps them in pytest's cache
under `s3deep/chaos` for docs/reliability.md.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .helpers import FIGURES, READ_TIMEOUT_S, Jobs, Run, Seed


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/chaos/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.chaos)


@pytest.fixture(scope="session")
def figures() -> Counter[str]:
    """Counters the chaos tests add to; reported at the end of the session."""
    return FIGURES


@pytest.fixture
def jobs(
    run_cli: Run,
    make_bucket: Callable[..., str],
    seed_objects: Seed,
    s3_client: Any,
    tmp_path: Path,
) -> Jobs:
    return Jobs(run_cli, make_bucket, seed_objects, s3_client, tmp_path)


@pytest.fixture
def chaos_env() -> dict[str, str]:
    """Variables for chaos runs: a short read timeout, so stalls cost little."""
    return {"S3DEEP_READ_TIMEOUT": READ_TIMEOUT_S}
