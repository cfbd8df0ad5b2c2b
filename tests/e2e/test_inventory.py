"""s3-manifest --inventory end to end: S3 Inventory reports in the real layout, in moto and
on disk, read by the installed console script; the records must be the live listing's."""

from __future__ import annotations

import os
import random
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from inventory_report import (
    CURRENT_SCHEMA,
    Entry,
    build_report,
    entries_from_listing,
    write_report,
)

from .test_manifest import HARD_KEYS, assert_clean_stderr, framed

STAGE = "s3-manifest"
Run = Callable[..., subprocess.CompletedProcess[bytes]]
Parse = Callable[[bytes], list[dict[str, Any]]]


def split_shuffled(entries: list[Entry], files: int, seed: int) -> list[list[Entry]]:
    """The entries in random order over `files` data files: the external sort must merge."""
    shuffled = random.Random(seed).sample(entries, len(entries))
    return [shuffled[n::files] for n in range(files)]


def put_report(s3_client: Any, bucket: str, objects: Mapping[str, bytes]) -> None:
    for key, body in objects.items():
        s3_client.put_object(Bucket=bucket, Key=key, Body=body)


def object_lines(stdout: bytes) -> list[bytes]:
    return stdout.splitlines()[1:-1]


@pytest.fixture(scope="module")
def hard_source(make_bucket: Callable[..., str], put_objects: Callable[..., Any]) -> str:
    name = make_bucket()
    put_objects(name, {key: b"h" * number for number, key in enumerate(HARD_KEYS)})
    return name


def report_of_listing(
    source: str,
    make_bucket: Callable[..., str],
    s3_client: Any,
    file_format: str,
    seed: int,
    **options: bool,
) -> str:
    """The URL of a report of the source's live listing, its rows shuffled over 3 files
    (unsorted: the external sort merges them), put into a new bucket."""
    entries = entries_from_listing(s3_client, source, versions=False)
    files = split_shuffled(entries, 3, seed=seed)
    report = build_report(source, files, schema=CURRENT_SCHEMA, file_format=file_format, **options)
    destination = make_bucket()
    put_report(s3_client, destination, report.objects)
    return f"s3://{destination}/{report.manifest_key}"


def test_report_in_s3_gives_the_live_listing_records(
    hard_source: str,
    make_bucket: Callable[..., str],
    s3_client: Any,
    run_cli: Run,
    parse_ndjson: Parse,
) -> None:
    live = run_cli(STAGE, f"s3://{hard_source}")
    assert live.returncode == 0, live.stderr
    url = report_of_listing(hard_source, make_bucket, s3_client, "CSV", seed=1)
    result = run_cli(STAGE, "--inventory", url, "--sort-buffer", "4")
    assert result.returncode == 0, result.stderr
    assert_clean_stderr(result.stderr)
    assert object_lines(result.stdout) == object_lines(live.stdout)
    listing = framed(parse_ndjson(result.stdout))
    assert listing.header["source"] == f"s3://{hard_source}/"
    assert listing.summary["complete"] is True
    assert listing.summary["counts"] == {"objects": len(HARD_KEYS)}

    # LOCATION selects a prefix of the report's bucket, as it would the listing.
    prefixed = run_cli(STAGE, f"s3://{hard_source}/a", "--inventory", url)
    expected = run_cli(STAGE, f"s3://{hard_source}/a")
    assert prefixed.returncode == 0, prefixed.stderr
    assert object_lines(prefixed.stdout) == object_lines(expected.stdout) != []
    assert framed(parse_ndjson(prefixed.stdout)).header["source"] == f"s3://{hard_source}/a"

    elsewhere = run_cli(STAGE, "s3://another-bucket/", "--inventory", url)
    assert elsewhere.returncode == 2
    assert b"not in the report's bucket" in elsewhere.stderr


def test_versions_and_delete_markers_in_listing_order(
    make_bucket: Callable[..., str], s3_client: Any, run_cli: Run, tmp_path: Path
) -> None:
    name = make_bucket()
    s3_client.put_object(Bucket=name, Key="pre", Body=b"0")  # before versioning: null version
    s3_client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    for key, size in [("a", 2), ("a", 3), ("a", None), ("a", 4), ("b", 5), ("b", None), ("pre", 6)]:
        time.sleep(0.01)  # distinct millisecond timestamps order the versions
        if size is None:
            s3_client.delete_object(Bucket=name, Key=key)
        else:
            s3_client.put_object(Bucket=name, Key=key, Body=b"v" * size)
    entries = entries_from_listing(s3_client, name, versions=True)
    report = build_report(name, split_shuffled(entries, 2, seed=2))
    manifest = write_report(report, tmp_path / "report")  # a local copy this time

    live = run_cli(STAGE, f"s3://{name}", "--versions", "--page-size", "1")
    result = run_cli(STAGE, "--inventory", manifest, "--versions", "--sort-buffer", "2")
    assert result.returncode == 0, result.stderr
    assert object_lines(result.stdout) == object_lines(live.stdout)
    assert len(object_lines(result.stdout)) == 8  # pre: 2, a: 4 (a marker), b: 2

    current = run_cli(STAGE, "--inventory", manifest)
    assert object_lines(current.stdout) == object_lines(run_cli(STAGE, f"s3://{name}").stdout)

    parquet = build_report(name, split_shuffled(entries, 2, seed=2), file_format="Parquet")
    from_parquet = run_cli(
        STAGE, "--inventory", write_report(parquet, tmp_path / "parquet"), "--versions"
    )
    assert from_parquet.returncode == 0, from_parquet.stderr
    assert object_lines(from_parquet.stdout) == object_lines(live.stdout)


def test_local_report_in_the_synced_layout_with_a_newline_key(
    run_cli: Run, parse_ndjson: Parse, tmp_path: Path
) -> None:
    keys = ["line\nbreak", "tab\there", "100%+sure", "über/ß", "with space"]
    report = build_report("src", [[Entry(k, size=n) for n, k in enumerate(keys)]])
    write_report(report, tmp_path / "all")
    # aws s3 sync s3://dest/inventory/src/daily/ synced/ (dated directory and data/)
    synced = tmp_path / "all" / "inventory" / "src" / "daily"
    result = run_cli(STAGE, "--inventory", synced / "2026-11-21T01-00Z" / "manifest.json")
    assert result.returncode == 0, result.stderr
    records = framed(parse_ndjson(result.stdout)).objects
    assert [r["key"] for r in records] == sorted(keys, key=str.encode)
    assert {r["key"]: r["size"] for r in records} == {k: n for n, k in enumerate(keys)}
    os.unlink(synced / "data" / os.path.basename(report.data_keys()[0]))
    missing = run_cli(STAGE, "--inventory", synced / "2026-11-21T01-00Z" / "manifest.json")
    assert missing.returncode == 3
    assert b"not found" in missing.stderr


def test_wrong_md5_is_exit_3_before_any_record(
    make_bucket: Callable[..., str], s3_client: Any, run_cli: Run, parse_ndjson: Parse
) -> None:
    report = build_report("src", [[Entry("a")], [Entry("b")]], bad_md5={1: "0" * 32})
    destination = make_bucket()
    put_report(s3_client, destination, report.objects)
    result = run_cli(STAGE, "--inventory", f"s3://{destination}/{report.manifest_key}")
    assert result.returncode == 3, result.stderr
    stderr = result.stderr.decode()
    assert f"{STAGE}: error: data file s3://{destination}/" in stderr
    assert "the manifest says " + "0" * 32 in stderr
    assert_clean_stderr(result.stderr)
    listing = framed(parse_ndjson(result.stdout))
    assert listing.objects == [] and listing.summary["complete"] is False


@pytest.mark.parametrize("file_format", ["Parquet", "ORC"])
def test_parquet_and_orc_reports_give_the_live_listing_records(
    hard_source: str,
    make_bucket: Callable[..., str],
    s3_client: Any,
    run_cli: Run,
    parse_ndjson: Parse,
    file_format: str,
) -> None:
    live = run_cli(STAGE, f"s3://{hard_source}")
    url = report_of_listing(hard_source, make_bucket, s3_client, file_format, seed=4)
    result = run_cli(STAGE, "--inventory", url, "--sort-buffer", "4")
    assert result.returncode == 0, result.stderr
    assert object_lines(result.stdout) == object_lines(live.stdout)
    assert_clean_stderr(result.stderr)
    assert framed(parse_ndjson(result.stdout)).summary["counts"] == {"objects": len(HARD_KEYS)}

    # A report whose keys are URL-encoded like CSV's, read with --url-encoded-keys.
    encoded = report_of_listing(
        hard_source, make_bucket, s3_client, file_format, seed=5, encoded_keys=True
    )
    decoded = run_cli(STAGE, "--inventory", encoded, "--url-encoded-keys")
    assert decoded.returncode == 0, decoded.stderr
    assert object_lines(decoded.stdout) == object_lines(live.stdout)


def test_without_pyarrow_parquet_is_exit_2_with_the_pip_command_and_csv_still_works(
    run_cli: Run, tmp_path: Path
) -> None:
    blocked = tmp_path / "blocked"
    (blocked / "pyarrow").mkdir(parents=True)
    (blocked / "pyarrow" / "__init__.py").write_text("raise ImportError('blocked by the test')\n")
    env = {"PYTHONPATH": str(blocked)}
    parquet = write_report(
        build_report("src", [[Entry("a")]], file_format="Parquet"), tmp_path / "parquet"
    )
    result = run_cli(STAGE, "--inventory", parquet, env=env)
    assert result.returncode == 2, result.stderr
    assert b"a Parquet inventory report needs pyarrow" in result.stderr
    assert b"pip install 's3deep[inventory]'" in result.stderr
    assert result.stdout == b""
    # A CSV report never imports pyarrow.
    csv = write_report(build_report("src", [[Entry("a")]]), tmp_path / "csv")
    assert run_cli(STAGE, "--inventory", csv, env=env).returncode == 0
