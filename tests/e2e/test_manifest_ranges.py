"""s3-manifest --parallel and --shard end to end: the same records, in the same order, as
one sequential listing; shards that add up to the whole. Resuming after kill -9 is a chaos
job (tests/chaos/test_crashes.py)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from e2e.test_manifest import (
    HARD_KEYS,
    STAGE,
    assert_clean_stderr,
    assert_same_output,
    framed,
    key_order,
)

Run = Callable[..., subprocess.CompletedProcess[bytes]]
Parse = Callable[[bytes], list[dict[str, Any]]]

# Hard keys, spread over a few "directories" and a flat run, so ranges have work to split.
RANGE_KEYS = [
    *HARD_KEYS,
    *(
        f"logs/{day:02d}/host-{host}/part-{part:03d}"
        for day in (1, 2, 30)
        for host in (1, 7)
        for part in range(40)
    ),
    *(f"flat-{n:05d}" for n in range(300)),
    *(f"dir/{name}" for name in HARD_KEYS[:12]),
]


@pytest.fixture(scope="module")
def range_bucket(
    make_bucket: Callable[..., str], seed_objects: Callable[..., None]
) -> tuple[str, dict[str, bytes]]:
    name = make_bucket()
    objects = {key: b"r" * (number % 23) for number, key in enumerate(RANGE_KEYS)}
    seed_objects(name, objects)
    return name, objects


@pytest.fixture(scope="module")
def sequential(range_bucket: tuple[str, dict[str, bytes]], run_cli: Run) -> bytes:
    result = run_cli(STAGE, f"s3://{range_bucket[0]}", "--page-size", "50")
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    ("parallel", "page_size", "prefix"),
    [
        ("2", "7", ""),
        ("8", "50", ""),
        ("4", "1000", ""),
        ("3", "5", "logs/"),
        ("6", "10", "logs/0"),  # two directories, opened to seed six streams
        ("4", "10", "flat-"),  # no directories: ranges come from splitting
    ],
)
def test_parallel_output_is_the_sequential_output(
    range_bucket: tuple[str, dict[str, bytes]],
    sequential: bytes,
    run_cli: Run,
    parse_ndjson: Parse,
    parallel: str,
    page_size: str,
    prefix: str,
) -> None:
    name, objects = range_bucket
    where = f"s3://{name}/{prefix}"
    result = run_cli(STAGE, where, "--parallel", parallel, "--page-size", page_size)

    assert result.returncode == 0, result.stderr
    assert_clean_stderr(result.stderr)
    listing = framed(parse_ndjson(result.stdout))
    expected = key_order(key for key in objects if key.startswith(prefix))
    assert listing.keys == expected
    if prefix:
        reference = run_cli(STAGE, where, "--page-size", page_size)
        assert_same_output(result.stdout, reference.stdout, parse_ndjson)
    else:
        assert_same_output(result.stdout, sequential, parse_ndjson)


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_shards_add_up_to_the_whole_listing(
    range_bucket: tuple[str, dict[str, bytes]],
    sequential: bytes,
    run_cli: Run,
    parse_ndjson: Parse,
    tmp_path: Path,
    count: int,
) -> None:
    name, objects = range_bucket
    lines: list[bytes] = []
    sizes = []
    for index in range(count):
        checkpoint = tmp_path / f"shard-{index}.ck"
        args = [f"s3://{name}", "--shard", f"{index}/{count}", "--checkpoint", checkpoint]
        if index % 2:
            args += ["--parallel", "3", "--page-size", "20"]
        result = run_cli(STAGE, *args)
        assert result.returncode == 0, result.stderr
        assert_clean_stderr(result.stderr)
        listing = framed(parse_ndjson(result.stdout))
        assert listing.keys == key_order(listing.keys)  # each shard in key order
        assert listing.summary["complete"] is True
        sizes.append(len(listing.keys))
        lines += result.stdout.splitlines()[1:-1]
        assert f"shard {index}/{count}: keys after " in result.stderr.decode()

    whole = sequential.splitlines()[1:-1]
    assert sorted(lines, key=lambda line: json.loads(line)["key"].encode()) == whole
    assert len(lines) == len(objects)
    # A deterministic cut of the directories: no shard is left with (almost) everything.
    assert max(sizes) <= len(objects) * 0.75 if count > 1 else sizes == [len(objects)]


def test_shard_from_the_job_engine_environment(
    range_bucket: tuple[str, dict[str, bytes]], run_cli: Run, parse_ndjson: Parse
) -> None:
    name, _ = range_bucket
    by_option = run_cli(STAGE, f"s3://{name}", "--shard", "1/3")
    by_env = run_cli(
        STAGE,
        f"s3://{name}",
        "--shard",
        "env",
        env={"JOB_COMPLETION_INDEX": "1", "JOB_COMPLETIONS": "3"},
    )
    assert by_option.returncode == by_env.returncode == 0, by_env.stderr
    assert_same_output(by_env.stdout, by_option.stdout, parse_ndjson)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--parallel", "0"], "--parallel"),
        (["--parallel", "65"], "--parallel"),
        (["--shard", "4/4"], "0 <= K < N"),
        (["--shard", "x"], "expected K/N"),
        (["--versions", "--parallel", "2"], "--versions cannot be combined"),
        (["--versions", "--shard", "0/2"], "--versions cannot be combined"),
        (["--keys", "-", "--parallel", "2"], "not --inventory/--keys"),
    ],
)
def test_bad_parallel_or_shard_is_a_usage_error(
    range_bucket: tuple[str, dict[str, bytes]], run_cli: Run, args: list[str], message: str
) -> None:
    result = run_cli(STAGE, f"s3://{range_bucket[0]}", *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr.decode()
    assert result.stdout == b""


def test_local_directories_refuse_parallel_and_shard(
    run_cli: Run, tmp_path: Path, fake_aws_environment: Mapping[str, str]
) -> None:
    (tmp_path / "f").write_bytes(b"1")
    for args in (["--parallel", "2"], ["--shard", "0/2"]):
        result = run_cli(STAGE, tmp_path, *args)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.decode().splitlines()
        assert lines == [f"{STAGE}: error: --parallel and --shard apply to S3 locations only"]
