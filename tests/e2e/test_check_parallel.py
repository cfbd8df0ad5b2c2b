"""s3-check --parallel end to end: list mode lists TARGET as key ranges on several streams
and writes the records of the sequential run, in the same order. Resuming after kill -9
with another N is a chaos job (tests/chaos/test_crashes.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from e2e.test_manifest import HARD_KEYS

Run = Callable[..., subprocess.CompletedProcess[bytes]]
Parse = Callable[[bytes], list[dict[str, Any]]]

# Hard keys, a few "directories" and a flat run: ranges get seeded and split.
SOURCE_KEYS = [
    *HARD_KEYS,
    *(f"logs/{day}/part-{part:03d}" for day in (1, 2, 3) for part in range(60)),
    *(f"flat-{n:04d}" for n in range(150)),
    *(f"dir/{name}" for name in HARD_KEYS[:8]),
]
EXTRAS = ["aaa-extra", "logs/2/part-030x", "logs/4/new-1", "logs/4/new-2", "flat-0100x", "zzz"]


def damaged_replica() -> tuple[dict[str, bytes], dict[str, bytes], dict[str, str]]:
    """Source objects, a replica with every kind of damage, and the statuses it should get."""
    source = {key: b"s" * (1 + number % 13) for number, key in enumerate(SOURCE_KEYS)}
    replica = dict(source)
    statuses: dict[str, str] = {}
    for number, key in enumerate(SOURCE_KEYS):
        if number % 17 == 5:
            del replica[key]
            statuses[key] = "missing"
        elif number % 23 == 7:
            replica[key] += b"+"
            statuses[key] = "size_mismatch"
        elif number % 29 == 11:
            replica[key] = b"x" + replica[key][1:]
            statuses[key] = "etag_mismatch"
    for key in EXTRAS:
        replica[key] = b"stray"
        statuses[key] = "extra"
    return source, replica, statuses


@pytest.fixture(scope="module")
def buckets(
    make_bucket: Callable[..., str],
    seed_objects: Callable[[str, Mapping[str, bytes]], None],
    run_cli: Run,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[str, str, Path, dict[str, str]]:
    """(source bucket, replica bucket, the source's manifest file, the damage)."""
    source, replica = make_bucket(), make_bucket()
    source_objects, replica_objects, statuses = damaged_replica()
    seed_objects(source, source_objects)
    seed_objects(replica, replica_objects)
    listing = tmp_path_factory.mktemp("check-parallel") / "src.ndjson"
    result = run_cli("s3-manifest", f"s3://{source}/", "--quiet", "-o", listing)
    assert result.returncode == 0, result.stderr
    return source, replica, listing, statuses


def records_part(output: bytes) -> bytes:
    """The output without its header and summary lines (they hold times)."""
    lines = output.splitlines(keepends=True)
    return b"".join(lines[1:-1])


def summary_counts(output: bytes, parse_ndjson: Parse) -> dict[str, Any]:
    summary = parse_ndjson(output)[-1]
    return {"complete": summary["complete"], "counts": summary["counts"]}


@pytest.mark.parametrize(
    ("parallel", "page_size"),
    [("4", "7"), ("8", "1000"), ("3", "5")],
)
def test_parallel_records_are_the_sequential_records(
    buckets: tuple[str, str, Path, dict[str, str]],
    run_cli: Run,
    parse_ndjson: Parse,
    parallel: str,
    page_size: str,
) -> None:
    _, replica, listing, statuses = buckets
    args = ["s3-check", f"s3://{replica}/", "-i", listing, "--page-size", page_size]
    sequential = run_cli(*args, "--parallel", "1")
    ranged = run_cli(*args, "--parallel", parallel)

    assert sequential.returncode == 1, sequential.stderr
    assert ranged.returncode == 1, ranged.stderr
    assert b"Traceback" not in ranged.stderr
    records = parse_ndjson(ranged.stdout)[1:-1]
    found = {r["key"]: r["status"] for r in records if r["status"] != "ok"}
    assert found == statuses
    assert len(records) == len(SOURCE_KEYS) + len(EXTRAS)
    assert records_part(ranged.stdout) == records_part(sequential.stdout)
    assert summary_counts(ranged.stdout, parse_ndjson) == summary_counts(
        sequential.stdout, parse_ndjson
    )


def test_parallel_without_target_lists_the_inputs_source(
    buckets: tuple[str, str, Path, dict[str, str]], run_cli: Run, parse_ndjson: Parse
) -> None:
    source, _, listing, _ = buckets
    result = run_cli("s3-check", "-i", listing, "--parallel", "4", "--page-size", "9")

    assert result.returncode == 0, result.stderr
    records = parse_ndjson(result.stdout)[1:-1]
    assert {r["status"] for r in records} == {"ok"}
    assert [r["key"] for r in records] == [
        r["key"] for r in parse_ndjson(listing.read_bytes())[1:-1]
    ]
    assert {r["bucket"] for r in records} == {source}
