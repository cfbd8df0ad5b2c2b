"""Plain helpers for the tests (no fixtures): the fake AWS environment, the console
scripts, a file's modification time and the signal handlers a test must leave as it
found them. tests/conftest.py builds its fixtures on these; import them from here.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# Recognisable, so a test can prove that it never appears in any output or checkpoint.
FAKE_SECRET = "s3deep-test-secret-DO-NOT-LEAK"
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "s3deep-test-key-id",
    "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    # botocore honours HTTP(S)_PROXY for http:// endpoints too; keep 127.0.0.1 direct.
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")

# PUTs run at about 70/s here (moto and boto3 share this process's GIL), so put_objects
# runs a small pool, tests keep their data small, and bulk data goes through seed_objects.
PUT_THREADS = 8

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def console_script(name: str) -> Path:
    """The installed console script `name` of the venv that runs the tests."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.fail(f"console script {path} is not installed (pip install -e '.[dev]')")
    return path


def modified(path: Path | None) -> int | None:
    """The file's modification time in ns, or None if there is no such file."""
    try:
        return path.stat().st_mtime_ns if path else None
    except FileNotFoundError:
        return None


# SIGINT's handler when the test process started (helpers is imported before any test).
STARTING_SIGINT = signal.getsignal(signal.SIGINT)


@contextmanager
def signal_handlers_restored() -> Iterator[None]:
    """Puts back the SIGINT and SIGTERM handlers that were in place on entry.

    run_stage installs handlers that only set a flag; left in place after an in-process
    test, they would swallow a Ctrl-C meant to stop the test run.
    """
    saved = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
