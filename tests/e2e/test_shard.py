"""--shard end to end: N shards' outputs together are the single run's output.

The shards run as separate processes against the moto server, under GNU parallel
(the runner the README shows) or one after the other.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., subprocess.CompletedProcess[bytes]]
Parse = Callable[[bytes], list[dict[str, Any]]]
Seed = Callable[[str, Mapping[str, bytes]], None]
SHARDS = 4

NAMES = [f"n{n:04d}" for n in range(120)] + ["a b", "c+d", "é", "x&y", "sp ace/deep/ér"]
SOURCE = {f"data/{name}": name.encode() * 2 for name in NAMES}


def replica_of_source() -> dict[str, bytes]:
    """SOURCE under backup/, damaged: every 9th missing, every 11th longer, 30 extras."""
    replica = {}
    for number, (key, body) in enumerate(SOURCE.items()):
        name = "backup/" + key.removeprefix("data/")
        if number % 9 == 4:
            continue
        replica[name] = body + b"!" if number % 11 == 3 else body
    replica.update({f"backup/stray{n:02d}": b"stray" for n in range(30)})
    return replica


MISSING = sum(f"backup/{key.removeprefix('data/')}" not in replica_of_source() for key in SOURCE)


def data_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["type"] not in ("header", "summary")]


def canonical(records: list[dict[str, Any]], drop: tuple[str, ...] = ()) -> list[str]:
    """Records as sorted JSON texts, without the fields that differ run to run."""
    texts = [
        json.dumps({k: v for k, v in r.items() if k not in drop}, sort_keys=True) for r in records
    ]
    return sorted(texts)


def read_output(parse: Parse, path: Path) -> list[dict[str, Any]]:
    records = parse(path.read_bytes())
    assert records[0]["type"] == "header" and records[-1]["type"] == "summary", path
    assert records[-1]["complete"] is True, records[-1]
    return records


def sum_counts(outputs: list[list[dict[str, Any]]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for records in outputs:
        total.update(records[-1]["counts"])
    return total


@pytest.fixture
def source_and_replica(make_bucket: Callable[..., str], seed_objects: Seed) -> tuple[str, str]:
    source, target = make_bucket(), make_bucket()
    seed_objects(source, SOURCE)
    seed_objects(target, replica_of_source())
    return source, target


@pytest.fixture
def manifest_file(run_cli: Run, source_and_replica: tuple[str, str], tmp_path: Path) -> Path:
    path = tmp_path / "src.ndjson"
    result = run_cli("s3-manifest", f"s3://{source_and_replica[0]}/data/", "-o", path, "--quiet")
    assert result.returncode == 0, result.stderr
    return path


@pytest.fixture(scope="session")
def gnu_parallel() -> str:
    path = shutil.which("parallel")
    if path is None:
        pytest.fail("GNU parallel is not installed: `make install` installs it (as root)")
    return path


@pytest.mark.parametrize("mode", ["list", "head"])
def test_check_shards_under_gnu_parallel_union_to_the_single_run(
    run_cli: Run,
    parse_ndjson: Parse,
    script_path: Callable[[str], Path],
    cli_env: dict[str, str],
    gnu_parallel: str,
    source_and_replica: tuple[str, str],
    manifest_file: Path,
    tmp_path: Path,
    mode: str,
) -> None:
    target = f"s3://{source_and_replica[1]}/backup/"
    single_path = tmp_path / "single.ndjson"
    single = run_cli(
        "s3-check", target, "-i", manifest_file, "--mode", mode, "-o", single_path, "--quiet"
    )
    assert single.returncode == 1, single.stderr
    joblog = tmp_path / "jobs.log"
    command = [
        gnu_parallel, "--will-cite", "-j", str(SHARDS), "--joblog", str(joblog),
        str(script_path("s3-check")), target, "-i", str(manifest_file), "--mode", mode,
        "--shard", f"{{}}/{SHARDS}", "-o", str(tmp_path / "shard-{}.ndjson"), "--no-progress",
        ":::", *map(str, range(SHARDS)),
    ]  # fmt: skip
    ran = subprocess.run(
        command, env=cli_env, stdin=subprocess.DEVNULL, capture_output=True, timeout=120
    )
    # parallel exits with the number of failed jobs; each shard has damage: exit 1.
    assert ran.returncode == SHARDS, ran.stderr
    with joblog.open() as handle:
        jobs = list(csv.DictReader(handle, delimiter="\t"))
    assert sorted(int(job["Exitval"]) for job in jobs) == [1] * SHARDS, jobs
    for index in range(SHARDS):
        assert f"shard {index}/{SHARDS}: ".encode() in ran.stderr, ran.stderr
    outputs = [read_output(parse_ndjson, tmp_path / f"shard-{i}.ndjson") for i in range(SHARDS)]
    expected = read_output(parse_ndjson, single_path)
    assert all(data_records(records) for records in outputs)
    union = [record for records in outputs for record in data_records(records)]
    assert canonical(union) == canonical(data_records(expected))
    assert sum_counts(outputs) == Counter(expected[-1]["counts"])
    statuses = Counter(r["status"] for r in data_records(expected))
    assert statuses["missing"] == MISSING and statuses["size_mismatch"] > 0
    assert statuses.get("extra", 0) == (30 if mode == "list" else 0)


def test_delete_shards_delete_each_key_exactly_once(
    run_cli: Run, parse_ndjson: Parse, make_bucket: Callable[..., str], seed_objects: Seed,
    tmp_path: Path,
) -> None:  # fmt: skip
    bucket = make_bucket()
    seed_objects(bucket, SOURCE)
    listed = tmp_path / "objects.ndjson"
    assert run_cli("s3-manifest", f"s3://{bucket}/", "-o", listed, "--quiet").returncode == 0
    single_path = tmp_path / "single.ndjson"
    result = run_cli("s3-delete", f"s3://{bucket}/", "-i", listed, "-o", single_path, "--quiet")
    assert result.returncode == 0, result.stderr
    assert run_cli("s3-manifest", f"s3://{bucket}/", "--quiet").stdout.count(b'"object"') == 0
    seed_objects(bucket, SOURCE)  # the same keys again, for the shards
    outputs = []
    for index in range(SHARDS):
        path = tmp_path / f"shard-{index}.ndjson"
        result = run_cli(
            "s3-delete", f"s3://{bucket}/", "-i", listed, "-o", path, "--shard",
            f"{index}/{SHARDS}", "--quiet",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        outputs.append(read_output(parse_ndjson, path))
    union = [record for records in outputs for record in data_records(records)]
    assert Counter(r["key"] for r in union if r["status"] == "deleted") == Counter(SOURCE.keys())
    assert canonical(union) == canonical(data_records(read_output(parse_ndjson, single_path)))
    assert run_cli("s3-manifest", f"s3://{bucket}/", "--quiet").stdout.count(b'"object"') == 0


def test_repair_shards_union_to_the_single_run(
    run_cli: Run,
    parse_ndjson: Parse,
    s3_client: Any,
    seed_objects: Seed,
    source_and_replica: tuple[str, str],
    manifest_file: Path,
    tmp_path: Path,
) -> None:
    source, target = source_and_replica
    checked = tmp_path / "chk.ndjson"
    result = run_cli("s3-check", f"s3://{target}/backup/", "-i", manifest_file, "-o", checked)
    assert result.returncode == 1, result.stderr
    repair = ("s3-repair", f"s3://{target}/backup/", "--from", f"s3://{source}/data/")
    single_path = tmp_path / "single.ndjson"
    result = run_cli(*repair, "-i", checked, "-o", single_path, "--quiet")
    assert result.returncode == 0, result.stderr
    damaged = replica_of_source()
    for key in (f"backup/{key.removeprefix('data/')}" for key in SOURCE):
        if key not in damaged:
            s3_client.delete_object(Bucket=target, Key=key)
    seed_objects(target, damaged)  # damaged again, for the shards
    outputs = []
    for index in range(SHARDS):
        path = tmp_path / f"shard-{index}.ndjson"
        shard = ("--shard", f"{index}/{SHARDS}")
        result = run_cli(*repair, "-i", checked, "-o", path, *shard, "--quiet")
        assert result.returncode == 0, result.stderr
        outputs.append(read_output(parse_ndjson, path))
    union = [record for records in outputs for record in data_records(records)]
    single = data_records(read_output(parse_ndjson, single_path))
    assert canonical(union, drop=("ms",)) == canonical(single, drop=("ms",))
    assert Counter(r["status"] for r in union)["repaired"] > MISSING
    for key, body in SOURCE.items():
        name = "backup/" + key.removeprefix("data/")
        assert s3_client.get_object(Bucket=target, Key=name)["Body"].read() == body, name


def test_each_shard_keeps_its_own_checkpoint_and_env_names_the_shard(
    run_cli: Run,
    parse_ndjson: Parse,
    source_and_replica: tuple[str, str],
    manifest_file: Path,
    tmp_path: Path,
) -> None:
    check = ("s3-check", f"s3://{source_and_replica[1]}/backup/", "-i", manifest_file)
    checkpoint = tmp_path / "chk.ck"
    first = tmp_path / "first.ndjson"
    result = run_cli(*check, "-o", first, "--shard", "1/2", "--checkpoint", checkpoint)
    assert result.returncode == 1, result.stderr
    assert json.loads(checkpoint.read_bytes())["arguments"]["shard"] == "1/2"
    other = run_cli(*check, "-o", first, "--shard", "0/2", "--checkpoint", checkpoint)
    assert other.returncode == 2
    assert b"other arguments (differs in: shard)" in other.stderr, other.stderr
    unsharded = run_cli(*check, "-o", first, "--checkpoint", checkpoint)
    assert unsharded.returncode == 2, unsharded.stderr
    # The same shard from a Kubernetes Indexed Job's variables: the checkpoint is its own.
    k8s = {"JOB_COMPLETION_INDEX": "1", "JOB_COMPLETIONS": "2"}
    again = run_cli(*check, "-o", first, "--shard", "env", "--checkpoint", checkpoint, env=k8s)
    assert again.returncode == 1, again.stderr
    assert b"is complete (exit 1); nothing to do" in again.stderr
    from_env = tmp_path / "env.ndjson"
    result = run_cli(*check, "-o", from_env, "--shard", "env", "--quiet", env=k8s)
    assert result.returncode == 1, result.stderr
    batch = {"AWS_BATCH_JOB_ARRAY_INDEX": "1", "AWS_BATCH_JOB_ARRAY_SIZE": "2"}
    from_batch = tmp_path / "batch.ndjson"
    result = run_cli(*check, "-o", from_batch, "--shard", "env", "--quiet", env=batch)
    assert result.returncode == 1, result.stderr
    expected = canonical(data_records(read_output(parse_ndjson, first)))
    assert canonical(data_records(read_output(parse_ndjson, from_env))) == expected
    assert canonical(data_records(read_output(parse_ndjson, from_batch))) == expected


@pytest.mark.parametrize(
    ("stage", "args", "shard", "message"),
    [
        ("s3-check", ("s3://b/",), "4/4", "--shard 4/4: K must satisfy 0 <= K < N (K=4, N=4)"),
        ("s3-delete", ("s3://b/",), "two", "--shard 'two': expected K/N (e.g. 0/4) or env"),
        (
            "s3-repair",
            ("s3://b/", "--from", "s3://c/"),
            "env",
            "--shard env: none of the job engines' variables is set",
        ),
    ],
)
def test_bad_shard_is_a_usage_error(
    run_cli: Run, stage: str, args: tuple[str, ...], shard: str, message: str
) -> None:
    result = run_cli(stage, *args, "--shard", shard, input=b"")
    assert result.returncode == 2, result.stderr
    assert result.stderr.decode().splitlines()[0].startswith(f"{stage}: error: {message}")
    assert b"Traceback" not in result.stderr
