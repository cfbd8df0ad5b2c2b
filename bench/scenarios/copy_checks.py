"""The copy scenario's checks of every run, and its report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bench.harness.common import expect, list_bucket, read_output
from bench.harness.measure import Series, samples_table
from bench.harness.report import Conditions, Rated, machine_section, rate_table, shown
from bench.harness.rounds import Command
from bench.harness.settings import Report, Settings

Entries = list[tuple[str, int, str]]  # key, size, MD5 ETag


def verify_copy(endpoint: str, dst: str, entries: Entries) -> str:
    """The destination lists exactly the source's keys, sizes and MD5 ETags."""
    listed = list_bucket(endpoint, dst)
    expect(listed == entries, f"{dst} holds {len(listed)} objects, not the source's "
           f"{len(entries)} with their sizes and ETags: e.g. "
           f"{sorted(set(listed) ^ set(entries))[:3]}")  # fmt: skip
    return f"{dst} lists the source's {len(entries)} keys, sizes and MD5 ETags"


def verify_repair(endpoint: str, dst: str, entries: Entries, rep: Path, actions: set[str]) -> str:
    """One `repaired` record per object, in order, by one of `actions`; the destination
    holds the source's objects."""
    records, summary = read_output(rep, "s3-repair")
    n = len(entries)
    expect([r["key"] for r in records] == [k for k, _, _ in entries], "s3-repair: other keys")
    for record in records:
        expect(record["status"] == "repaired" and record["action"] in actions,
               f"s3-repair: {record}")  # fmt: skip
    expect(summary["counts"] == {"repaired": n}, f"s3-repair counted {summary['counts']}")
    done = verify_copy(endpoint, dst, entries)
    used = sorted({r["action"] for r in records})
    return f"summary {{repaired: {n}}}, actions {used}; {done}"


def report_markdown(
    name: str, settings: Settings, sets: dict[str, Entries], huge: dict[str, Entries],
    all_series: list[Series], checks: dict[str, str], requests: dict[str, str],
    example: list[Command], conditions: Conditions, server_rss: float, failures: list[str],
) -> Report:  # fmt: skip
    every = {**sets, **huge}

    def rows(bucket: str, per: Callable[[Entries], float]) -> list[Rated]:
        return [Rated(s, per(every[bucket]), requests.get(s.name, "-"))
                for s in all_series if s.name.startswith(f"{bucket}:")]  # fmt: skip

    def megabytes(entries: Entries) -> float:
        return sum(size for _, size, _ in entries) / 1e6

    small = rate_table(rows("small", len), "objects/s")
    large = rate_table(rows("large", megabytes), "MB/s")
    sections = [f"## {len(sets['small']):,} small objects "
                f"({megabytes(sets['small']) * 1e6:,.0f} bytes)\n\n{small}",
                f"## {len(sets['large'])} objects of {sets['large'][0][1] / 1e6:,.0f} MB "
                f"(random)\n\n{large}"]  # fmt: skip
    if huge:
        size = huge["huge"][0][1]
        runs = settings.slow_runs
        sections.append(f"## One object of {size / 2**20:,.0f} MiB, streamed "
                        f"({'median of ' + str(runs) + ' runs' if runs > 1 else 'one run'})"
                        f"\n\n{rate_table(rows('huge', megabytes), 'MB/s')}")  # fmt: skip
    for failure in failures:
        sections.append(f"**FAILED** (no numbers for this part):\n\n```\n{failure[:3000]}\n```")
    commands = "\n".join(f"  - {c.name}: `{shown(c.argv)}`" for c in example)
    body = "\n\n".join(sections)
    markdown = f"""# Copying into an empty bucket: s3-repair next to rclone, s5cmd and the AWS CLI

Medians of {settings.runs} runs per command, in rounds, against one `rclone serve s3` on
127.0.0.1. Before every run the destination is emptied (untimed); the s3-repair rows
that read a check file get one made by `s3-check` before the clock starts (all
`missing`), the piped rows check and repair within the clock. "Server-side" means
CopyObject within the endpoint (rclone serve s3 then reads and writes the file);
"streamed" means the source is the same server under another name
(http://localhost:PORT), so every byte passes through the client. Ratios are the
first row of each table / peer. "Requests" come from one more, untimed round through
a counting proxy. Server peak RSS over the scenario: {server_rss:.0f} MB.

{body}

- s3-repair defaults: `--concurrency 8`, `--part-size 16 MiB`, `--part-concurrency 4`,
  except that the streamed rows pass `--part-concurrency 1`: rclone serve s3 writes a
  multipart upload into one stream in part order, and with 4 parts in flight a large
  upload can fail at completion (InvalidPart); the last table tries the default too.
  rclone `--transfers 4`; aws s3 cp with `multipart_threshold = 5GB` in its config file
  (rclone serve s3 does not implement UploadPartCopy, which aws uses above 8 MB)
- commands (WORK is the scratch directory):
{commands}

## Correctness (every run)

{chr(10).join(f"- {name}: {what}" for name, what in checks.items())}

{machine_section(conditions)}
## All runs

{samples_table(all_series)}
"""
    return Report(name, markdown, body)
