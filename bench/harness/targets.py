"""The targets of the benchmark issue, checked against a report's medians: each target as
stated, the measured ratio, met or not. Nothing here adjusts a number; a target whose
rows did not run is listed as not measured."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.harness.measure import Series

DEFINED_AT = 100_000  # objects: the size most targets are stated for
RSS_LIMIT_MB = 100.0


@dataclass(frozen=True)
class Target:
    text: str  # the target as the issue states it
    measured: str  # what was measured, e.g. "0.93x (11.2 s / 12.0 s)"
    met: bool | None  # None: not measured here

    def line(self) -> str:
        verdict = {True: "**met**", False: "**not met**", None: "not measured"}[self.met]
        return f"- {self.text}: {self.measured} — {verdict}"


Metric = Callable[[Series], float]
WALL: Metric = lambda s: s.wall_s  # noqa: E731
CPU: Metric = lambda s: s.cpu_s / s.objects if s.objects else s.cpu_s  # noqa: E731
RSS: Metric = lambda s: s.maxrss_mb  # noqa: E731
RATE: Metric = lambda s: s.rate  # noqa: E731
UNITS = {id(WALL): "s", id(CPU): "ms CPU/object", id(RSS): "MB", id(RATE): "objects/s"}


def count_label(objects: int) -> str:
    """100000 -> "100k", 1000000 -> "1M": how the issue names its sizes."""
    if objects >= 1_000_000 and objects % 1_000_000 == 0:
        return f"{objects // 1_000_000}M"
    if objects >= 1000 and objects % 1000 == 0:
        return f"{objects // 1000}k"
    return f"{objects:,}"


def find(series: Sequence[Series], name: str) -> Series | None:
    for one in series:
        if one.name == name and one.samples:
            return one
    return None


def _value(metric: Metric, value: float) -> str:
    if metric is CPU:
        return f"{value * 1000:.3f}"
    return f"{value:,.0f}" if metric is RATE else f"{value:.2f}"


def ratio(
    text: str, ours: Series | None, peers: Sequence[Series | None], metric: Metric,
    limit: float, at_least: bool = False,
) -> Target:  # fmt: skip
    """ours/peer of `metric` against `limit` (at most, or at least); with several peers,
    the one that makes the target hardest (the best peer)."""
    present = [p for p in peers if p is not None]
    if ours is None or not present:
        missing = "the s3deep row" if ours is None else "the peer's row"
        return Target(text, f"{missing} did not run", None)
    ratios = [(metric(ours) / metric(p) if metric(p) else float("inf"), p) for p in present]
    # the hardest peer: the largest ratio to stay under, the smallest to stay above
    value, peer = (min if at_least else max)(ratios, key=lambda pair: pair[0])
    unit = UNITS[id(metric)]
    measured = (f"{value:.2f}x ({ours.name} {_value(metric, metric(ours))} / {peer.name} "
                f"{_value(metric, metric(peer))} {unit})")  # fmt: skip
    return Target(text, measured, value >= limit if at_least else value <= limit)


def absolute(text: str, ours: Series | None, metric: Metric, limit: float) -> Target:
    """`metric` of ours at most `limit`."""
    if ours is None:
        return Target(text, "the s3deep row did not run", None)
    value = metric(ours)
    return Target(text, f"{_value(metric, value)} {UNITS[id(metric)]}", value <= limit)


def share(text: str, ours: Series | None, ceiling: Series | None, least: float) -> Target:
    """ours' objects/s as a share of the ceiling's, at least `least`."""
    if ours is None or ceiling is None or not ceiling.rate:
        return Target(text, "the s3deep row did not run", None)
    value = ours.rate / ceiling.rate
    return Target(text, f"{value:.0%} ({ours.rate:,.0f} / {ceiling.rate:,.0f} objects/s)",
                  value >= least)  # fmt: skip


def previous_rss(results_dir: Path, report: str, row: str) -> float | None:
    """The peak RSS MB of `row` in an earlier report's first table, if that report exists."""
    try:
        text = (results_dir / f"{report}.md").read_text()
    except OSError:
        return None
    header: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if header is None:
            header = cells
        elif cells and cells[0] == row and "peak RSS MB" in header:
            try:
                return float(cells[header.index("peak RSS MB")])
            except (ValueError, IndexError):
                return None
    return None


def within(text: str, ours: Series | None, before: float | None, where: str,
           tolerance: float = 0.10) -> Target:  # fmt: skip
    """ours' peak RSS within `tolerance` of (at most that much above) an earlier figure."""
    if ours is None:
        return Target(text, "the s3deep row did not run", None)
    if before is None:
        return Target(text, f"{ours.maxrss_mb:.0f} MB; no {where} to compare with", None)
    grew = ours.maxrss_mb / before - 1 if before else float("inf")
    return Target(text, f"{ours.maxrss_mb:.0f} MB vs {before:.0f} MB in {where} ({grew:+.0%})",
                  grew <= tolerance)  # fmt: skip


def section(targets: Sequence[Target], objects: int, latency_ms: float, stated: str) -> str:
    """The report's closing "Targets" section."""
    notes = []
    if objects != DEFINED_AT and objects < 1_000_000:
        notes.append(f"the targets are stated for {stated}; this run has {objects:,} objects, "
                     "so the verdicts below are indicative only")  # fmt: skip
    if latency_ms and latency_ms != 50:
        notes.append(f"the latency targets are stated for 50 ms; this run adds {latency_ms:g} ms")
    note = "".join(f"\n_Note: {n}._\n" for n in notes)
    lines = "\n".join(t.line() for t in targets) or "- none apply to this scenario and size"
    met = sum(1 for t in targets if t.met)
    measured = sum(1 for t in targets if t.met is not None)
    return (f"## Targets\n\nFrom the benchmark issue; ratios are s3deep / peer (medians), "
            f"against the best peer where there are several. {met} of {measured} measured "
            f"targets met.\n{note}\n{lines}\n")  # fmt: skip
