"""s3-check's two pipelines on small inputs: the factory picks one by mode, each keeps
the cursor format of earlier versions, and each does only its own job (list mode
merges sorted input and finds extras; head and read modes take any order, no extras)."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lib.io.ndjson import RecordReader
from lib.leaves.errors import BadInput
from lib.leaves.flush import FLUSH, Flush
from lib.leaves.location import parse_location
from lib.leaves.records import CheckRecord, DataRecord, Header, ObjectRecord, Summary
from lib.leaves.records import new_decoder as decoder
from lib.leaves.records import new_encoder as encoder_of
from lib.pipelines.check import CheckOptions, KeyMap
from lib.pipelines.check_list import ListCheck
from lib.pipelines.check_objects import ObjectCheck
from lib.pipelines.check_plan import check_pipeline
from lib.pipelines.verify import Stores

EXPECTED = {"a": b"1", "b/x": b"22", "b/y": b"333", "c": b"4444", "é": b"5"}
TARGET = {"a": b"1", "b/x": b"2X", "b/y": b"3333", "bb": b"extra", "é": b"5"}
LIST_STATUSES = [
    ("a", "ok"),
    ("b/x", "etag_mismatch"),
    ("b/y", "size_mismatch"),
    ("bb", "extra"),
    ("c", "missing"),
    ("é", "ok"),
]


def manifest(keys: list[str], complete: bool = True) -> bytes:
    """A manifest of s3://src (fixed bytes: no path or time in it) for EXPECTED's `keys`."""
    records: list[Any] = [Header(stage="s3-manifest", source="s3://src", started="2026-01-01")]
    for key in keys:
        body = EXPECTED[key]
        etag = hashlib.md5(body).hexdigest()
        records.append(ObjectRecord(bucket="src", key=key, size=len(body), etag=etag))
    if complete:
        records.append(Summary(stage="s3-manifest", complete=True, counts={"object": len(keys)}))
    encoder = encoder_of()
    return b"".join(encoder.encode(record) + b"\n" for record in records)


@pytest.fixture
def target(tmp_path: Path) -> Path:
    for key, body in TARGET.items():
        path = tmp_path.joinpath(*key.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return tmp_path


def pipeline(
    data: bytes, target: Path, mode: str, cursor: dict[str, Any] | None = None
) -> ListCheck | ObjectCheck:
    reader = RecordReader(io.BytesIO(data), decoder())
    reader.read_header()
    where = parse_location(str(target))
    listing = where if mode == "list" else None
    keymap = KeyMap(parse_location("s3://src"), where)
    return check_pipeline(reader, keymap, listing, Stores(None), CheckOptions(mode=mode), cursor)


def records_of(check: ListCheck | ObjectCheck, count: int | None = None) -> list[DataRecord]:
    taken: list[DataRecord] = []
    iterator: Iterator[DataRecord | Flush] = iter(check)
    while count is None or len(taken) < count:
        record = next(iterator, None)
        if record is None:
            break
        if record is not FLUSH:
            taken.append(record)
    return taken


def statuses(records: list[DataRecord]) -> list[tuple[str, str]]:
    return [(r.key, r.status) for r in records if isinstance(r, CheckRecord)]


def test_the_mode_picks_the_pipeline(target: Path) -> None:
    data = manifest(sorted(EXPECTED))
    assert isinstance(pipeline(data, target, "list"), ListCheck)
    assert isinstance(pipeline(data, target, "head"), ObjectCheck)
    assert isinstance(pipeline(data, target, "read"), ObjectCheck)
    reader = RecordReader(io.BytesIO(data), decoder())
    with pytest.raises(ValueError, match="list mode needs"):
        check_pipeline(reader, KeyMap(None, None), None, Stores(None), CheckOptions(), None)


def test_list_check_merges_with_the_listing_and_finds_extras(target: Path) -> None:
    check = pipeline(manifest(sorted(EXPECTED)), target, "list")
    assert statuses(records_of(check)) == LIST_STATUSES
    assert check.complete


@pytest.mark.parametrize("mode", ["head", "read"])
def test_object_check_takes_any_order_and_reports_no_extras(target: Path, mode: str) -> None:
    keys = sorted(EXPECTED, reverse=True)
    check = pipeline(manifest(keys), target, mode)
    expected = dict(LIST_STATUSES)
    assert statuses(records_of(check)) == [(key, expected[key]) for key in keys]
    assert check.complete
    with pytest.raises(BadInput, match="not sorted"):
        records_of(pipeline(manifest(keys), target, "list"))


def test_object_check_is_not_complete_on_a_cut_input(target: Path) -> None:
    check = pipeline(manifest(sorted(EXPECTED), complete=False), target, "head")
    assert len(records_of(check)) == len(EXPECTED)
    assert not check.complete
    assert "ended with no summary" in check.notes[0]


@pytest.mark.parametrize("mode", ["list", "head"])
def test_each_check_resumes_from_any_of_its_cursors(target: Path, mode: str) -> None:
    data = manifest(sorted(EXPECTED))
    encoder = encoder_of()
    reference = [encoder.encode(r) for r in records_of(pipeline(data, target, mode))]
    for cut in range(1, len(reference)):
        first = pipeline(data, target, mode)
        taken = [encoder.encode(r) for r in records_of(first, cut)]
        cursor = json.loads(json.dumps(first.cursor()))
        assert set(cursor) == {"seen", "last_key", "input"}
        if mode == "head":
            assert cursor["last_key"] is None
        rest = [encoder.encode(r) for r in records_of(pipeline(data, target, mode, cursor))]
        assert taken + rest == reference, f"resumed after {cut} records"


# Cursors that s3deep wrote before the check was split in two (commit 4584c66), after
# the third record of manifest(sorted(EXPECTED)): a checkpoint of that version resumes.
EARLIER_CURSORS = {
    "list": '{"seen": 3, "last_key": "b/y", "input": {"lines": 4, "offset": 788, '
    '"digest": "15fdbea96b8039d9968953f85a01550c"}}',
    "head": '{"seen": 5, "last_key": null, "input": {"lines": 4, "offset": 788, '
    '"digest": "15fdbea96b8039d9968953f85a01550c"}}',
}


@pytest.mark.parametrize("mode", ["list", "head"])
def test_a_cursor_of_the_version_before_the_split_resumes(target: Path, mode: str) -> None:
    data = manifest(sorted(EXPECTED))
    encoder = encoder_of()
    reference = [encoder.encode(r) for r in records_of(pipeline(data, target, mode))]
    cursor = json.loads(EARLIER_CURSORS[mode])
    rest = [encoder.encode(r) for r in records_of(pipeline(data, target, mode, cursor))]
    assert rest == reference[3:]
