"""`make demo` on a small world, so that the demo cannot drift from the stages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "demo" / "demo.py"


def test_demo_runs_every_step_and_checks_its_own_results(tmp_path: Path) -> None:
    """demo.py checks each step (it exits 1 on any surprise); here it runs as `make demo`
    runs it, with its own moto server, on about 300 objects, writing to tmp_path."""
    env = {**os.environ, "S3DEEP_DEMO_SIZE": "small", "S3DEEP_DEMO_OUT": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, str(DEMO)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=180,
        check=False,
    )
    stdout = result.stdout.decode()
    assert result.returncode == 0, stdout[-3000:] + result.stderr.decode()[-3000:]
    assert "s3-check exited 0: the replica matches the source" in stdout
    assert "stopped the moto server" in stdout
    damage = json.loads((tmp_path / "damage.json").read_text())
    assert sorted(set(damage.values())) == ["etag_mismatch", "extra", "missing", "size_mismatch"]
    summary = json.loads((tmp_path / "recheck.ndjson").read_text().splitlines()[-1])
    assert summary["complete"] and list(summary["counts"]) == ["ok"], summary
