"""s3-check's logic on local directories (no server needed): merge-join, modes, guard, resume."""

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lib.check import CheckOptions, CheckPipeline, KeyMap, listing_location
from lib.errors import BadInput
from lib.location import parse_location
from lib.manifest import ManifestOptions, ManifestPipeline
from lib.ndjson import RecordReader
from lib.records import (
    CheckRecord,
    DataRecord,
    Header,
    ObjectRecord,
    Summary,
    new_decoder,
    new_encoder,
)
from lib.verify import Stores


def tree(root: Path, files: dict[str, bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def manifest_bytes(root: Path, *, complete: bool = True, md5: bool = True) -> bytes:
    location = parse_location(str(root))
    records: list[Any] = [Header(stage="s3-manifest", source=str(location))]
    records += [r for r in ManifestPipeline(location, ManifestOptions(md5=md5)) if r is not None]
    if complete:
        records.append(Summary(stage="s3-manifest", complete=True, counts={"objects": 1}))
    encoder = new_encoder()
    return b"".join(encoder.encode(record) + b"\n" for record in records)


def run_check(
    data: bytes, target: Path | None, mode: str = "list", cursor: dict[str, Any] | None = None
) -> tuple[CheckPipeline, list[DataRecord]]:
    reader = RecordReader(io.BytesIO(data), new_decoder())
    header = reader.read_header()
    source = parse_location(header.source) if header and header.source else None
    where = parse_location(str(target)) if target else None
    listing = listing_location(where, source) if mode == "list" else None
    pipeline = CheckPipeline(
        reader, KeyMap(source, where), listing, Stores(None), CheckOptions(mode=mode), cursor
    )
    return pipeline, [r for r in pipeline if r is not None]


def statuses(records: list[DataRecord]) -> list[tuple[str, str]]:
    return [(r.key, r.status) for r in records if isinstance(r, CheckRecord)]


SOURCE = {"a": b"1", "b/x": b"22", "b/y": b"333", "c": b"4444", "é": b"5", "😀": b"6"}
REPLICA = {
    "a": b"1",
    "b/x": b"2X",
    "b/y": b"3333",
    "aa": b"extra",
    "é": b"5",
    "zz": b"extra",
    "😁": b"x",
}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return tree(tmp_path / "src", SOURCE)


@pytest.fixture
def replica(tmp_path: Path) -> Path:
    return tree(tmp_path / "dst", REPLICA)


def test_list_mode_classifies_every_key(source: Path, replica: Path) -> None:
    pipeline, records = run_check(manifest_bytes(source), replica)
    assert statuses(records) == [
        ("a", "ok"),
        ("aa", "extra"),
        ("b/x", "etag_mismatch"),
        ("b/y", "size_mismatch"),
        ("c", "missing"),
        ("zz", "extra"),
        ("é", "ok"),
        ("😀", "missing"),
        ("😁", "extra"),
    ]
    assert pipeline.complete
    first = records[0]
    assert isinstance(first, CheckRecord) and first.bucket == str(replica)
    assert first.expected is not None and first.expected.bucket == str(source)


def test_list_mode_keeps_utf8_byte_order(source: Path, replica: Path) -> None:
    _, records = run_check(manifest_bytes(source), replica)
    keys = [r.key for r in records if isinstance(r, CheckRecord)]
    assert keys == sorted(keys, key=lambda key: key.encode())
    assert keys.index("zz") < keys.index("é") < keys.index("😀")


@pytest.mark.parametrize("mode", ["head", "read"])
def test_head_and_read_modes_agree_with_list_mode_on_expected_keys(
    source: Path, replica: Path, mode: str
) -> None:
    _, listed = run_check(manifest_bytes(source), replica)
    _, checked = run_check(manifest_bytes(source), replica, mode=mode)
    assert statuses(checked) == [item for item in statuses(listed) if item[1] != "extra"]


def test_incomplete_input_reports_no_trailing_extras(source: Path, replica: Path) -> None:
    pipeline, records = run_check(manifest_bytes(source, complete=False), replica)
    assert ("😁", "extra") not in statuses(records)
    assert ("zz", "extra") in statuses(records)  # before the last expected key: still reported
    assert not pipeline.complete
    assert "did not end with a complete summary" in pipeline.notes[0]


def test_empty_input_reports_no_extras(tmp_path: Path, replica: Path) -> None:
    empty = tree(tmp_path / "empty", {})
    pipeline, records = run_check(manifest_bytes(empty), replica)
    assert records == [] and not pipeline.complete
    assert "is empty" in pipeline.notes[0]


def test_unsorted_input_is_refused_with_a_hint(source: Path, replica: Path) -> None:
    lines = manifest_bytes(source).splitlines(keepends=True)
    lines[2], lines[3] = lines[3], lines[2]
    with pytest.raises(BadInput, match=r"line 4: the input is not sorted.*--mode head"):
        run_check(b"".join(lines), replica)


def test_without_target_each_record_is_checked_where_it_was(source: Path) -> None:
    data = manifest_bytes(source)
    (source / "c").write_bytes(b"changed!")
    (source / "a").unlink()
    (source / "new").write_bytes(b"n")
    _, records = run_check(data, None)
    assert dict(statuses(records)) == {
        "a": "missing",
        "b/x": "ok",
        "b/y": "ok",
        "c": "size_mismatch",
        "new": "extra",
        "é": "ok",
        "😀": "ok",
    }


def test_resume_from_any_cursor_gives_the_same_records(source: Path, replica: Path) -> None:
    data = manifest_bytes(source)
    _, reference = run_check(data, replica)
    encoder = new_encoder()
    for cut in range(len(reference)):
        first, records = run_check_partially(data, replica, cut)
        _, rest = run_check(data, replica, cursor=first)
        assert [encoder.encode(r) for r in records + rest] == [encoder.encode(r) for r in reference]


def run_check_partially(
    data: bytes, target: Path, count: int
) -> tuple[dict[str, Any], list[DataRecord]]:
    reader = RecordReader(io.BytesIO(data), new_decoder())
    header = reader.read_header()
    assert header is not None and header.source is not None
    source = parse_location(header.source)
    where = parse_location(str(target))
    pipeline = CheckPipeline(
        reader, KeyMap(source, where), where, Stores(None), CheckOptions(), None
    )
    taken: list[DataRecord] = []
    iterator: Iterator[DataRecord | None] = iter(pipeline)
    while len(taken) < count:
        record = next(iterator)
        if record is not None:
            taken.append(record)
    return json.loads(json.dumps(pipeline.cursor())), taken


def test_existence_only_for_records_without_size_and_etag(tmp_path: Path, replica: Path) -> None:
    header = Header(stage="s3-manifest", source=str(tmp_path / "src"))
    records = [
        header,
        ObjectRecord(bucket=str(tmp_path / "src"), key="a"),
        ObjectRecord(bucket=str(tmp_path / "src"), key="nope"),
    ]
    data = b"".join(new_encoder().encode(r) + b"\n" for r in records)
    _, checked = run_check(data, replica, mode="head")
    assert statuses(checked) == [("a", "ok"), ("nope", "missing")]
    assert isinstance(checked[0], CheckRecord) and checked[0].detail == "existence checked only"
