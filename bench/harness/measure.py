"""Running commands and measuring them: wall time, client CPU, peak RSS, medians, tables.

Each command runs with its output redirected to a file, under bench/harness/launch.py: a
bare interpreter that spawns it, reaps it with os.wait4 and reports its rusage:
user + system CPU of the command's process tree (the command and every descendant
it waited for), and the peak RSS of its largest process. The launcher keeps the
benchmark's own memory out of that peak (see its docstring). The server's CPU
over the same interval is read from /proc.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

LAUNCHER = Path(__file__).resolve().parent / "launch.py"


@dataclass(frozen=True)
class Invocation:
    """One command line, where its stdout and stderr go, and its environment."""

    argv: list[str]
    stdout: Path
    stderr: Path
    env: dict[str, str]
    cwd: Path | None = None
    ok_codes: tuple[int, ...] = (0,)  # exit codes that mean "ran to the end" (check: 0, 1)

    @property
    def report(self) -> Path:
        return self.stderr.with_suffix(".rusage")


@dataclass(frozen=True)
class Sample:
    wall_s: float
    user_s: float
    sys_s: float
    maxrss_mb: float
    server_cpu_s: float = 0.0

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s


@dataclass(frozen=True)
class _Usage:
    start: float
    end: float
    user_s: float
    sys_s: float
    maxrss_kib: int


class CommandFailed(RuntimeError):
    pass


def _spawn(invocation: Invocation) -> subprocess.Popen[bytes]:
    invocation.report.unlink(missing_ok=True)
    argv = [sys.executable, "-I", "-S", str(LAUNCHER), str(invocation.report), *invocation.argv]
    with open(invocation.stdout, "wb") as out, open(invocation.stderr, "wb") as err:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=invocation.env,
            cwd=invocation.cwd,
        )  # fmt: skip


def _usage(process: subprocess.Popen[bytes], invocation: Invocation) -> _Usage:
    """Waits for one launcher; raises CommandFailed unless its command exited with one of
    the invocation's `ok_codes`."""
    code = process.wait()
    if code not in invocation.ok_codes or not invocation.report.exists():
        tail = invocation.stderr.read_text(errors="replace")[-2000:]
        raise CommandFailed(
            f"exit {code}: {' '.join(invocation.argv)}\n--- stderr tail ---\n{tail}"
        )
    start, end, user, system, maxrss, _ = invocation.report.read_text().split()
    return _Usage(float(start), float(end), float(user), float(system), int(maxrss))


def run_parallel(
    invocations: Sequence[Invocation], server_cpu: Callable[[], float] | None = None
) -> Sample:
    """Starts all invocations at once and waits for every one; wall time is from the first
    command's start to the last one's end, CPU the sum over all of them, RSS the largest
    single process."""
    cpu_before = server_cpu() if server_cpu else 0.0
    processes = [(_spawn(invocation), invocation) for invocation in invocations]
    try:
        usages = [_usage(process, invocation) for process, invocation in processes]
    finally:
        for process, _ in processes:
            process.wait()
    cpu_after = server_cpu() if server_cpu else 0.0
    return Sample(
        wall_s=max(u.end for u in usages) - min(u.start for u in usages),
        user_s=sum(u.user_s for u in usages),
        sys_s=sum(u.sys_s for u in usages),
        maxrss_mb=max(u.maxrss_kib for u in usages) / 1024,  # Linux reports KiB
        server_cpu_s=cpu_after - cpu_before,
    )


def run_measured(invocation: Invocation, server_cpu: Callable[[], float] | None = None) -> Sample:
    return run_parallel([invocation], server_cpu)


@dataclass
class Series:
    """The samples of one command over several runs, and how many objects it handled."""

    name: str
    objects: int
    samples: list[Sample] = field(default_factory=list)

    def median(self, metric: Callable[[Sample], float]) -> float:
        return statistics.median(metric(sample) for sample in self.samples)

    @property
    def wall_s(self) -> float:
        return self.median(lambda s: s.wall_s)

    @property
    def cpu_s(self) -> float:
        return self.median(lambda s: s.cpu_s)

    @property
    def maxrss_mb(self) -> float:
        return self.median(lambda s: s.maxrss_mb)

    @property
    def server_cpu_s(self) -> float:
        return self.median(lambda s: s.server_cpu_s)

    @property
    def rate(self) -> float:
        """Objects per second at the median wall time."""
        return self.objects / self.wall_s if self.wall_s > 0 else 0.0


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table; columns after the first are right-aligned (they hold numbers)."""
    align = [":---"] + ["---:"] * (len(header) - 1)
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def comparison_table(ours: Series, peers: Sequence[Series], ceiling: Series | None) -> str:
    """Medians of every series, objects/s as % of the ceiling, and ours/peer ratios."""
    header = [
        "command", "wall s", "CPU s", "peak RSS MB", "objects/s", "% of ceiling",
        "server CPU s", "s3deep/peer wall", "s3deep/peer CPU",
    ]  # fmt: skip
    rows = []
    for series in [ours, *peers, *([ceiling] if ceiling else [])]:
        share = f"{100 * series.rate / ceiling.rate:.0f}%" if ceiling and ceiling.rate else "-"
        if series is ours or series is ceiling or series.name.startswith(ours.name):
            wall_ratio = cpu_ratio = "-"  # ceiling, or ours with other options
        else:
            wall_ratio = f"{ours.wall_s / series.wall_s:.2f}"
            cpu_ratio = f"{ours.cpu_s / series.cpu_s:.2f}" if series.cpu_s else "-"
        rows.append([
            series.name, f"{series.wall_s:.2f}", f"{series.cpu_s:.2f}",
            f"{series.maxrss_mb:.0f}", f"{series.rate:,.0f}", share,
            f"{series.server_cpu_s:.2f}", wall_ratio, cpu_ratio,
        ])  # fmt: skip
    return markdown_table(header, rows)


def samples_table(all_series: Sequence[Series]) -> str:
    """Every run of every series, in the order they ran within each round."""
    header = ["run", "command", "wall s", "user s", "sys s", "peak RSS MB", "server CPU s"]
    rows = []
    rounds = max(len(series.samples) for series in all_series)
    for index in range(rounds):
        for series in all_series:
            if index < len(series.samples):
                s = series.samples[index]
                rows.append([
                    str(index + 1), series.name, f"{s.wall_s:.2f}", f"{s.user_s:.2f}",
                    f"{s.sys_s:.2f}", f"{s.maxrss_mb:.0f}", f"{s.server_cpu_s:.2f}",
                ])  # fmt: skip
    return markdown_table(header, rows)


def rss_floor_mb(work: Path, env: dict[str, str]) -> float:
    """The peak RSS the launcher reports for `true`: no command can show less."""
    invocation = Invocation(["true"], work / "floor.out", work / "floor.stderr", env)
    return run_measured(invocation).maxrss_mb
