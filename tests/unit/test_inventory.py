"""S3 Inventory reports as a library: decoding, ordering, verification, local layouts."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest
from inventory_report import CURRENT_SCHEMA, Entry, build_report, write_report

from lib.leaves.errors import FatalError, UsageError
from lib.leaves.location import Location
from lib.leaves.records import ObjectRecord
from lib.pipelines.inventory import InventoryOptions, InventoryPipeline, Report, find_local
from lib.pipelines.keylist import SortOptions

KEYS = ["plain", "with space", "plus+sign", "percent%20sign", "tilde~", "é/ü", "nl\nkey", "a*b"]


def records(
    manifest: Path, *, versions: bool = False, run_size: int = 1000, prefix: str = "", **kw: Any
) -> list[ObjectRecord]:
    report = Report(str(manifest))
    options = InventoryOptions(versions=versions, sort=SortOptions(run_size=run_size), **kw)
    pipeline = InventoryPipeline(report, Location("s3", report.source_bucket, prefix), options)
    result = [record for record in pipeline if isinstance(record, ObjectRecord)]
    assert pipeline.complete
    return result


def by_s3_order(keys: list[str]) -> list[str]:
    return sorted(keys, key=str.encode)


@pytest.mark.parametrize("file_format", ["CSV", "Parquet", "ORC"])
def test_keys_come_out_exact_and_in_byte_order(tmp_path: Path, file_format: str) -> None:
    """CSV keys are URL-decoded; Parquet and ORC keys are taken as they are."""
    shuffled = random.Random(3).sample(KEYS, len(KEYS))
    files = [
        [Entry(key, size=n) for n, key in enumerate(shuffled[:4])],
        [Entry(k) for k in shuffled[4:]],
    ]
    report = build_report("src", files, schema=CURRENT_SCHEMA, file_format=file_format)
    manifest = write_report(report, tmp_path)
    for run_size in (1000, 2):
        result = records(manifest, run_size=run_size)
        assert [r.key for r in result] == by_s3_order(KEYS)
        assert {r.bucket for r in result} == {"src"}
        assert result[0].last_modified == "2026-11-20T10:00:00.000Z"


@pytest.mark.parametrize("file_format", ["Parquet", "ORC"])
def test_url_encoded_columnar_keys_are_decoded_when_asked(tmp_path: Path, file_format: str) -> None:
    files = [[Entry(key, size=n) for n, key in enumerate(KEYS)]]
    report = build_report("src", files, file_format=file_format, encoded_keys=True)
    manifest = write_report(report, tmp_path)
    assert [r.key for r in records(manifest, url_encoded_keys=True)] == by_s3_order(KEYS)
    # Without the option they are taken as they are, as AWS writes them.
    assert "with+space" in [r.key for r in records(manifest)]


@pytest.mark.parametrize("file_format", ["CSV", "Parquet", "ORC"])
def test_versions_newest_first_and_delete_markers(tmp_path: Path, file_format: str) -> None:
    entries = [
        Entry(
            "k", size=1, version_id="v1", is_latest=False, last_modified="2026-01-01T00:00:01.000Z"
        ),
        Entry(
            "k",
            size=None,
            etag=None,
            storage_class=None,
            version_id="dm",
            is_latest=False,
            delete_marker=True,
            last_modified="2026-01-01T00:00:02.000Z",
        ),
        Entry("j", size=5, version_id="", last_modified="2026-01-01T00:00:00Z"),
        Entry("k", size=3, version_id="v3", last_modified="2026-01-01T00:00:03.5Z"),
    ]
    report = build_report("src", [entries[:2], entries[2:]], file_format=file_format)
    manifest = write_report(report, tmp_path)
    every = records(manifest, versions=True, run_size=1)
    assert [(r.key, r.version_id, r.is_latest, r.delete_marker) for r in every] == [
        ("j", "null", True, False),
        ("k", "v3", True, False),
        ("k", "dm", False, True),
        ("k", "v1", False, False),
    ]
    marker = every[2]
    assert (marker.size, marker.etag, marker.storage_class) == (None, None, None)
    assert every[1].last_modified == "2026-01-01T00:00:03.500Z"
    current = records(manifest)
    assert [(r.key, r.version_id, r.size) for r in current] == [("j", None, 5), ("k", None, 3)]


def test_prefix_and_globs_select_keys(tmp_path: Path) -> None:
    keys = ["logs/a.gz", "logs/b.txt", "logsx", "other/c.gz"]
    manifest = write_report(build_report("src", [[Entry(k) for k in keys]]), tmp_path)
    assert [r.key for r in records(manifest, prefix="logs/", include=["*.gz"])] == ["logs/a.gz"]


def test_wrong_md5_stops_before_any_record(tmp_path: Path) -> None:
    report = build_report("src", [[Entry("a")], [Entry("b")]], bad_md5={1: "0" * 32})
    with pytest.raises(FatalError, match=r"has MD5 [0-9a-f]{32}, the manifest says 0{32}"):
        records(write_report(report, tmp_path))


def test_an_unknown_format_is_refused(tmp_path: Path) -> None:
    manifest = write_report(build_report("src", [[Entry("a")]]), tmp_path)
    manifest.write_text(manifest.read_text().replace('"CSV"', '"Avro"'))
    with pytest.raises(UsageError, match="fileFormat is Avro; CSV, Parquet and ORC reports"):
        Report(str(manifest))


@pytest.mark.parametrize("file_format", ["Parquet", "ORC"])
def test_without_pyarrow_a_columnar_report_is_refused_with_the_pip_command(
    tmp_path: Path, file_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = write_report(build_report("src", [[Entry("a")]], file_format=file_format), tmp_path)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # `import pyarrow` raises ImportError
    with pytest.raises(UsageError, match=f"a {file_format} inventory report needs pyarrow") as err:
        Report(str(manifest))
    assert err.value.hint is not None and "pip install 's3deep[inventory]'" in err.value.hint


@pytest.mark.parametrize("file_format", ["Parquet", "ORC"])
def test_a_data_file_that_is_not_of_the_format_is_bad_input(
    tmp_path: Path, file_format: str
) -> None:
    manifest = write_report(build_report("src", [[Entry("a")]]), tmp_path)  # gzip CSV
    manifest.write_text(manifest.read_text().replace('"CSV"', f'"{file_format}"'))
    with pytest.raises(UsageError, match=f"row 1: unreadable {file_format} data"):
        records(manifest)


def test_columnar_reports_stream_in_bounded_slices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows are turned into Python values a slice at a time, across row groups."""
    from lib.io import columnar

    sliced: list[int] = []
    original = columnar._values

    def spy(batch: Any, column: str, count: int) -> Any:
        sliced.append(count)
        return original(batch, column, count)

    monkeypatch.setattr(columnar, "SLICE_ROWS", 4)
    monkeypatch.setattr(columnar, "_values", spy)
    entries = [Entry(f"k{n:03d}", size=n) for n in range(30)]
    manifest = write_report(build_report("src", [entries], file_format="Parquet"), tmp_path)
    assert [r.size for r in records(manifest)] == list(range(30))
    assert sliced and max(sliced) <= 4


def test_not_a_manifest_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"files": []}))
    with pytest.raises(UsageError, match=r"not an S3 Inventory manifest\.json"):
        Report(str(path))


def test_data_files_are_found_in_the_layouts_a_download_leaves(tmp_path: Path) -> None:
    key = "inv/src/daily/data/x.csv.gz"
    synced = tmp_path / "synced"  # aws s3 sync s3://dest/inv/src/daily/ synced/
    (synced / "2026-11-21T01-00Z").mkdir(parents=True)
    (synced / "data").mkdir()
    (synced / "data" / "x.csv.gz").write_bytes(b"1")
    assert find_local(str(synced / "2026-11-21T01-00Z"), key) == str(synced / "data" / "x.csv.gz")
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "x.csv.gz").write_bytes(b"2")
    assert find_local(str(flat), key) == str(flat / "x.csv.gz")
    assert find_local(str(tmp_path / "nothing"), key) is None


@pytest.mark.parametrize("file_format", ["CSV", "Parquet", "ORC"])
def test_resume_skips_the_written_records(tmp_path: Path, file_format: str) -> None:
    files = [[Entry("c"), Entry("a")], [Entry("b")]]
    manifest = write_report(build_report("src", files, file_format=file_format), tmp_path)
    report = Report(str(manifest))
    cursor = {"emitted": 2, "key": "b", "version_id": None}
    pipeline = InventoryPipeline(report, Location("s3", "src"), InventoryOptions(), cursor=cursor)
    assert [r.key for r in pipeline if isinstance(r, ObjectRecord)] == ["c"]
    assert pipeline.cursor() == {"emitted": 3, "key": "c", "version_id": None}
    wrong = {"emitted": 2, "key": "a", "version_id": None}
    pipeline = InventoryPipeline(report, Location("s3", "src"), InventoryOptions(), cursor=wrong)
    with pytest.raises(UsageError, match="differs"):
        list(pipeline)
