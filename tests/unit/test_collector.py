"""The garbage collector kept out of a stage's start-up (lib/engine/collector.py): off
from a console script's entry until its pipeline is built, then on again with what
start-up made frozen; a process that never paused it (tests running stages
in-process) keeps its collector as it was."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from lib.engine import collector


@pytest.fixture
def collector_as_before() -> Iterator[None]:
    assert gc.isenabled()
    yield
    gc.unfreeze()
    gc.enable()
    collector._paused = False


@pytest.mark.usefixtures("collector_as_before")
def test_paused_at_start_then_on_again_with_start_up_frozen() -> None:
    collector.pause()
    assert not gc.isenabled()
    made_at_start_up = [[] for _ in range(1000)]
    collector.resume()
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(made_at_start_up)
    collector.resume()  # once only
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_as_before")
def test_a_process_that_never_paused_keeps_its_collector() -> None:
    frozen = gc.get_freeze_count()
    collector.resume()
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    gc.disable()  # turned off by its owner: resume() does not turn it on
    collector.resume()
    assert not gc.isenabled()


def test_a_console_script_runs_its_records_with_the_collector_on(
    run_cli: Callable[..., CompletedProcess[bytes]], tmp_path: Path
) -> None:
    """The real wiring: s3-manifest pauses in its entry point and resumes before its
    first record. A sitecustomize on PYTHONPATH reports the collector's state at exit."""
    for n in range(3):
        (tmp_path / "data" / f"d{n}").mkdir(parents=True)
        (tmp_path / "data" / f"d{n}" / "f.txt").write_bytes(b"x" * n)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    report = tmp_path / "gc.txt"
    (hooks / "sitecustomize.py").write_text(
        "import atexit, gc, os\n"
        "def _report():\n"
        "    with open(os.environ['GC_REPORT'], 'w') as out:\n"
        "        out.write(f'{gc.isenabled()} {gc.get_freeze_count()}')\n"
        "atexit.register(_report)\n"
    )
    path = os.pathsep.join(filter(None, [str(hooks), os.environ.get("PYTHONPATH")]))
    listing = run_cli(
        "s3-manifest", tmp_path / "data", "-q", env={"PYTHONPATH": path, "GC_REPORT": str(report)}
    )
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.count(b'"type":"object"') == 3
    enabled, frozen = report.read_text().split()
    assert enabled == "True"
    assert int(frozen) > 10_000  # typer's, msgspec's and s3deep's modules at least
