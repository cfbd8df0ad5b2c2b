"""The objects scenario's report, built from measured series alone (no server, no peers),
so that a test can build it from made-up samples.

Every part compares s3deep's rows with a peer's on the same data. Client CPU per
object subtracts the tool's start-up: the median CPU of the same tool run over
nothing (an empty manifest, key list or bucket), measured in the same rounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.harness.measure import Series, markdown_table, samples_table
from bench.harness.targets import Target

RSS_LIMIT_MB = 300.0  # issue 17: read of large objects and streamed copies


@dataclass(frozen=True)
class Row:
    """One command of a part, and the no-op run of the same tool that is its start-up."""

    name: str
    startup: str


@dataclass(frozen=True)
class Part:
    """One comparison: s3deep's rows (the first is the one targets use) and the peers'.
    `objects` per run; `megabytes` per run when the rate is MB/s (large objects)."""

    key: str  # head, read-small, read-large, repair-small, repair-across
    title: str
    ours: tuple[Row, ...]
    peers: tuple[Row, ...]
    objects: int
    megabytes: float = 0.0
    missing: tuple[str, ...] = ()  # peers not installed here: named, never faked


@dataclass
class Measured:
    """Medians per command name, and what the runs checked."""

    series: dict[str, Series]
    checks: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # command name -> why no numbers

    def get(self, name: str) -> Series | None:
        found = self.series.get(name)
        return found if found is not None and found.samples else None

    def cpu_per_object(self, row: Row, objects: int) -> float | None:
        """Median client CPU seconds per object, the tool's start-up subtracted."""
        run, startup = self.get(row.name), self.get(row.startup)
        if run is None or startup is None or not objects:
            return None
        return max(0.0, run.cpu_s - startup.cpu_s) / objects

    def rate(self, row: Row, part: Part) -> float | None:
        run = self.get(row.name)
        if run is None or run.wall_s <= 0:
            return None
        return (part.megabytes or part.objects) / run.wall_s

    def steady_rate(self, row: Row, part: Part) -> float | None:
        """The rate once the tool has started: its start-up's wall time subtracted (with
        2,000 small objects a Python start-up is a large share of the whole run)."""
        run, startup = self.get(row.name), self.get(row.startup)
        if run is None or startup is None or run.wall_s <= startup.wall_s:
            return None
        return (part.megabytes or part.objects) / (run.wall_s - startup.wall_s)


def _per_object(seconds: float | None, part: Part) -> str:
    if seconds is None:
        return "-"
    if part.megabytes:
        return f"{seconds * part.objects / part.megabytes * 1000:.2f}"  # ms per MB
    return f"{seconds * 1e6:,.0f}"  # µs per object


def _ratio(ours: float | None, peer: float | None) -> str:
    return f"{ours / peer:.2f}" if ours is not None and peer else "-"


def part_table(part: Part, measured: Measured) -> str:
    """Medians of every row of `part`, and ratios of its first s3deep row to each peer."""
    cpu_unit = "CPU ms/MB" if part.megabytes else "CPU µs/object"
    rate_unit = "MB/s" if part.megabytes else "objects/s"
    header = ["command", "wall s", "CPU s", "start-up CPU s", cpu_unit, rate_unit,
              f"{rate_unit} after start-up", "peak RSS MB", "server CPU s", "ours/peer wall",
              "ours/peer CPU/object", "ours/peer RSS"]  # fmt: skip
    base = part.ours[0]
    base_series = measured.get(base.name)
    base_cpu = measured.cpu_per_object(base, part.objects)
    lines = []
    for row in (*part.ours, *part.peers):
        series = measured.get(row.name)
        if series is None:
            why = measured.failures.get(row.name, "did not run")
            lines.append([row.name, *["-"] * 8, why.splitlines()[0][:80], "-", "-"])
            continue
        startup = measured.get(row.startup)
        cpu = measured.cpu_per_object(row, part.objects)
        rate, steady = measured.rate(row, part), measured.steady_rate(row, part)
        if row in part.peers and base_series is not None:
            ratios = [_ratio(base_series.wall_s, series.wall_s), _ratio(base_cpu, cpu),
                      _ratio(base_series.maxrss_mb, series.maxrss_mb)]  # fmt: skip
        else:
            ratios = ["-", "-", "-"]
        lines.append([
            row.name, f"{series.wall_s:.2f}", f"{series.cpu_s:.2f}",
            f"{startup.cpu_s:.2f}" if startup else "-", _per_object(cpu, part),
            f"{rate:,.1f}" if rate is not None else "-",
            f"{steady:,.1f}" if steady is not None else "-", f"{series.maxrss_mb:.0f}",
            f"{series.server_cpu_s:.2f}", *ratios,
        ])  # fmt: skip
    table = markdown_table(header, lines)
    missing = "".join(f"\n\n- {name}: not installed on this machine, so no row" for name in
                      part.missing)  # fmt: skip
    return table + missing


def _against(text: str, value: float | None, peer: float | None, limit: float,
             at_least: bool = False) -> Target:  # fmt: skip
    if value is None or not peer:
        return Target(text, "not measured (a row did not run)", None)
    ratio = value / peer
    return Target(text, f"{ratio:.2f}x", ratio >= limit if at_least else ratio <= limit)


def _at_most(text: str, value: float | None, limit: float, unit: str) -> Target:
    if value is None:
        return Target(text, "not measured (the row did not run)", None)
    return Target(text, f"{value:.0f} {unit}", value <= limit)


def targets(parts: dict[str, Part], measured: Measured) -> list[Target]:
    """Issue 17's targets, each from the first s3deep row of a part against its first peer."""
    found = []

    def pair(key: str) -> tuple[Part, Row, Row | None] | None:
        part = parts.get(key)
        if part is None:
            return None
        return part, part.ours[0], part.peers[0] if part.peers else None

    def cpu(part: Part, row: Row | None) -> float | None:
        return measured.cpu_per_object(row, part.objects) if row else None

    def rate(part: Part, row: Row | None) -> float | None:
        return measured.rate(row, part) if row else None

    def series(row: Row | None) -> Series | None:
        return measured.get(row.name) if row else None

    def wall(row: Row | None) -> float | None:
        run = series(row)
        return run.wall_s if run else None

    def rss(row: Row | None) -> float | None:
        run = series(row)
        return run.maxrss_mb if run else None

    if chosen := pair("head"):
        part, ours, peer = chosen
        found += [
            _against("head: client CPU per object ≤ 0.8x rclone's HEAD path",
                     cpu(part, ours), cpu(part, peer), 0.8),
            _against("head: objects/s ≥ rclone's (whole run, start-up included)",
                     rate(part, ours), rate(part, peer), 1.0, at_least=True),
            _against("head: objects/s ≥ rclone's (start-up wall time subtracted)",
                     measured.steady_rate(ours, part),
                     measured.steady_rate(peer, part) if peer else None, 1.0, at_least=True),
        ]  # fmt: skip
    if chosen := pair("read-small"):
        part, ours, peer = chosen
        found.append(_against("read small: CPU per object ≤ 0.8x rclone md5sum --download",
                              cpu(part, ours), cpu(part, peer), 0.8))  # fmt: skip
    if chosen := pair("read-large"):
        part, ours, peer = chosen
        found += [
            _against("read large: MB/s ≥ rclone md5sum's", rate(part, ours), rate(part, peer),
                     1.0, at_least=True),
            _at_most(f"read large: peak RSS ≤ {RSS_LIMIT_MB:.0f} MB", rss(ours), RSS_LIMIT_MB,
                     "MB"),
        ]  # fmt: skip
    if chosen := pair("repair-small"):
        part, ours, peer = chosen
        found += [
            _against("repair small, same endpoint: CPU per object ≤ s5cmd cp's",
                     cpu(part, ours), cpu(part, peer), 1.0),
            _against("repair small, same endpoint: wall ≤ s5cmd cp's", wall(ours), wall(peer),
                     1.0),
        ]  # fmt: skip
    if chosen := pair("repair-across"):
        part, ours, peer = chosen
        found += [
            _against("repair across endpoints: wall ≤ rclone copy's", wall(ours), wall(peer),
                     1.0),
            _at_most(f"repair across endpoints: peak RSS ≤ {RSS_LIMIT_MB:.0f} MB", rss(ours),
                     RSS_LIMIT_MB, "MB"),
        ]  # fmt: skip
    return found


def markdown(
    title: str, intro: str, parts: Sequence[Part], measured: Measured, commands: str,
    machine: str,
) -> str:  # fmt: skip
    """The whole report: one table per part, the targets, what was checked, the machine,
    every run."""
    sections = "\n\n".join(f"## {part.title}\n\n{part_table(part, measured)}" for part in parts)
    found = targets({part.key: part for part in parts}, measured)
    met = sum(1 for t in found if t.met)
    judged = sum(1 for t in found if t.met is not None)
    target_lines = "\n".join(t.line() for t in found)
    checks = "\n".join(f"- {name}: {what}" for name, what in measured.checks.items())
    ran = [s for s in measured.series.values() if s.samples]
    runs = samples_table(ran) if ran else "none"
    return f"""# {title}

{intro}

{sections}

## Targets (issue 17)

Ratios are the first s3deep row / the first peer row of each part (medians; CPU per
object with each tool's start-up subtracted). {met} of {judged} measured targets met.

{target_lines}

## Commands

WORK is the scratch directory, A and B the two servers.

{commands}

## Correctness (every run)

{checks or "- nothing ran"}

{machine}
## All runs

{runs}
"""


def summary(parts: Sequence[Part], measured: Measured) -> str:
    """What the terminal shows: one line per s3deep row against its first peer."""
    lines = []
    for part in parts:
        ours = part.ours[0]
        peer = part.peers[0] if part.peers else None
        mine = measured.cpu_per_object(ours, part.objects)
        theirs = measured.cpu_per_object(peer, part.objects) if peer else None
        lines.append(f"{part.title}: CPU/object ours/peer {_ratio(mine, theirs)}")
    return "\n".join(lines)
