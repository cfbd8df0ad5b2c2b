"""The test helpers themselves: what they promise the other tests."""

import signal
from pathlib import Path

from helpers import STARTING_SIGINT, signal_handlers_restored
from typer.testing import CliRunner

from lib.engine import interrupts
from stages.manifest import app


def test_signal_handlers_of_run_stage_are_put_back(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with signal_handlers_restored():
        result = CliRunner().invoke(app, [str(tmp_path), "--quiet"])
        assert result.exit_code == 0, result.output
        # run_stage replaced both: a Ctrl-C now only sets a flag nobody checks.
        assert signal.getsignal(signal.SIGINT) is interrupts._handler
        assert signal.getsignal(signal.SIGTERM) is interrupts._handler
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_a_stage_run_in_process_leaves_its_handlers(tmp_path: Path) -> None:
    """Left in place on purpose: the autouse fixture restore_signal_handlers
    (tests/conftest.py) must undo it before the next test."""
    CliRunner().invoke(app, [str(tmp_path), "--quiet"])
    assert signal.getsignal(signal.SIGINT) is interrupts._handler


def test_ctrl_c_reaches_pytest_again() -> None:
    """Run after the test above in the same process, this fails unless the fixture put
    the handler back that the test process started with (without it, Ctrl-C during the
    suite was swallowed): Python's own, or SIG_IGN in a job a shell started in the
    background."""
    assert signal.getsignal(signal.SIGINT) is STARTING_SIGINT
    assert STARTING_SIGINT is not interrupts._handler
