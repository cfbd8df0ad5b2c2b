"""What the numbers were measured on: machine, load, Python and tool versions, date."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata

from bench.harness.settings import PROJECT_DIR


def _first_line(argv: list[str]) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except OSError as exc:
        return f"unavailable ({exc.strerror})"
    text = (result.stdout or result.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> str:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _bytecode_note() -> str:
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return (
            " (PYTHONDONTWRITEBYTECODE is set: s3deep's own modules were compiled before the"
            " runs, as pip install does for installed packages)"
        )
    return ""


def _git_state() -> str:
    """The commit measured, and whether the code s3-manifest runs differs from it."""
    root = str(PROJECT_DIR)
    commit = _first_line(["git", "-C", root, "rev-parse", "--short", "HEAD"])
    changed = subprocess.run(
        ["git", "-C", root, "status", "--porcelain", "--", "lib", "stages"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    return f"git {commit}" + (", with uncommitted changes in lib/ or stages/" if changed else "")


def busy_warning() -> str | None:
    """A warning when other processes keep the CPUs busy, which makes timings noisy."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return None
    cores = os.cpu_count() or 1
    if load < 0.5 * cores:
        return None
    return (
        f"the 1-minute load average is {load:.2f} on {cores} cores before the runs: other "
        "processes compete for the CPU, so the timings are noisier than on an idle machine"
    )


def utc_timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def describe(tools: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(label, value) pairs; `tools` maps a label to the argv that prints its version."""
    rows = [
        ("date", utc_timestamp()),
        ("CPU", f"{os.cpu_count()} cores, {_cpu_model()}"),
        ("RAM", _memory_gib()),
        ("OS", f"{platform.system()} {platform.release()} ({platform.machine()})"),
        ("Python", platform.python_version() + _bytecode_note()),
        ("s3deep", f"{_version('s3deep')} ({_git_state()})"),
        ("boto3 / botocore", f"{_version('boto3')} / {_version('botocore')}"),
    ]
    rows.extend((label, _first_line(argv)) for label, argv in tools.items())
    return rows


def markdown_list(rows: list[tuple[str, str]]) -> str:
    return "\n".join(f"- {label}: {value}" for label, value in rows)
