"""s3-check's logic on local directories (no server needed): merge-join, modes, guard, resume."""

import io
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from lib.engine.shard import Shard
from lib.io.ndjson import RecordReader
from lib.leaves.errors import BadInput
from lib.leaves.flush import FLUSH, Flush
from lib.leaves.location import parse_location
from lib.leaves.records import (
    CheckRecord,
    DataRecord,
    Header,
    ObjectRecord,
    Summary,
    new_decoder,
    new_encoder,
)
from lib.pipelines.check import CheckOptions, KeyMap, listing_location
from lib.pipelines.check_list import ListCheck
from lib.pipelines.check_objects import ObjectCheck
from lib.pipelines.check_plan import check_pipeline
from lib.pipelines.manifest import ManifestOptions, ManifestPipeline
from lib.stores.protocol import Stores, store_for


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
    records += [
        r
        for r in ManifestPipeline(store_for(location, None), ManifestOptions(md5=md5))
        if r is not FLUSH
    ]
    if complete:
        records.append(Summary(stage="s3-manifest", complete=True, counts={"objects": 1}))
    encoder = new_encoder()
    return b"".join(encoder.encode(record) + b"\n" for record in records)


def run_check(
    data: bytes, target: Path | None, mode: str = "list", cursor: dict[str, Any] | None = None
) -> tuple[ListCheck | ObjectCheck, list[DataRecord]]:
    reader = RecordReader(io.BytesIO(data), new_decoder())
    header = reader.read_header()
    source = parse_location(header.source) if header and header.source else None
    where = parse_location(str(target)) if target else None
    listing = listing_location(where, source) if mode == "list" else None
    pipeline = check_pipeline(
        reader, KeyMap(source, where), listing, Stores(None), CheckOptions(mode=mode), cursor
    )
    return pipeline, [r for r in pipeline if r is not FLUSH]


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
    pipeline = check_pipeline(
        reader, KeyMap(source, where), where, Stores(None), CheckOptions(), None
    )
    taken: list[DataRecord] = []
    iterator: Iterator[DataRecord | Flush] = iter(pipeline)
    while len(taken) < count:
        record = next(iterator)
        if record is not FLUSH:
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


# --- --parallel: an S3 target listed as key ranges (moto in-process) -------------------

S3_SOURCE = {
    **{f"logs/{day}/part-{part:02d}": b"p" * part for day in (1, 2) for part in range(12)},
    **{f"flat-{n:02d}": b"f" * n for n in range(15)},
    "plus+sign": b"+",
    "ümlaut": b"u",
}
S3_REPLICA = {
    **{key: S3_SOURCE[key] for number, key in enumerate(sorted(S3_SOURCE)) if number % 7 != 3},
    "flat-03": b"changed",
    "logs/1/part-05x": b"extra",
    "logs/3/new": b"extra",
    "a-first": b"extra",
}


Seed = Callable[[str, Mapping[str, bytes]], None]


@pytest.fixture(scope="module")
def s3_pair(
    server_client: Any, make_bucket: Callable[..., str], seed_objects: Seed
) -> tuple[Any, bytes, str]:
    """A client of two buckets (a source and a damaged replica of it), the manifest of the
    source, and the replica's location."""
    source, replica = make_bucket(), make_bucket()
    seed_objects(source, S3_SOURCE)
    seed_objects(replica, S3_REPLICA)
    location = parse_location(f"s3://{source}")
    records: list[Any] = [Header(stage="s3-manifest", source=str(location))]
    listed = ManifestPipeline(store_for(location, server_client), ManifestOptions())
    records += [r for r in listed if r is not FLUSH]
    records.append(Summary(stage="s3-manifest", complete=True, counts={"objects": 1}))
    encoder = new_encoder()
    manifest = b"".join(encoder.encode(record) + b"\n" for record in records)
    return server_client, manifest, f"s3://{replica}"


def s3_check(
    pair: tuple[Any, bytes, str],
    parallel: int,
    cursor: dict[str, Any] | None = None,
    shard: Shard | None = None,
) -> ListCheck:
    client, data, target = pair
    reader = RecordReader(io.BytesIO(data), new_decoder())
    header = reader.read_header()
    assert header is not None and header.source is not None
    where = parse_location(target)
    options = CheckOptions(page_size=4, parallel=parallel, shard=shard)
    keymap = KeyMap(parse_location(header.source), where)
    return ListCheck(reader, keymap, where, Stores(client), options, cursor)


def checked_lines(pipeline: ListCheck | ObjectCheck) -> list[bytes]:
    """A whole run's records, encoded (flush markers left out)."""
    encoder = new_encoder()
    return [encoder.encode(record) for record in pipeline if record is not FLUSH]


def test_parallel_listing_resumes_after_any_cursor_without_gaps_or_repeats(
    s3_pair: tuple[Any, bytes, str],
) -> None:
    encoder = new_encoder()
    reference = checked_lines(s3_check(s3_pair, 1))
    ranged = checked_lines(s3_check(s3_pair, 3))
    assert ranged == reference
    assert b'"extra"' in b"".join(reference) and b'"missing"' in b"".join(reference)
    for cut in range(0, len(reference), 3):
        pipeline = s3_check(s3_pair, 1)
        taken: list[bytes] = []
        iterator: Iterator[DataRecord | Flush] = iter(pipeline)
        while len(taken) < cut:
            record = next(iterator)
            if record is not FLUSH:
                taken.append(encoder.encode(record))
        cursor = json.loads(json.dumps(pipeline.cursor()))
        rest = checked_lines(s3_check(s3_pair, 3, cursor))
        assert taken + rest == reference, f"resumed after {cut} records"


def test_parallel_listing_with_a_shard_keeps_the_shards_records(
    s3_pair: tuple[Any, bytes, str],
) -> None:
    whole = checked_lines(s3_check(s3_pair, 1))
    parts = []
    for index in range(2):
        shard = Shard(index, 2)
        sequential, ranged = (checked_lines(s3_check(s3_pair, n, shard=shard)) for n in (1, 3))
        assert ranged == sequential and 0 < len(ranged) < len(whole)
        parts += ranged
    assert sorted(parts) == sorted(whole)


@pytest.mark.parametrize(
    ("target", "mode"),
    [("s3://dst/", "head"), ("s3://dst/", "read"), ("LOCAL", "list"), (None, "list")],
)
def test_parallel_outside_list_mode_on_s3_is_a_usage_error(
    source: Path, tmp_path: Path, target: str | None, mode: str
) -> None:
    from typer.testing import CliRunner

    from stages.check import app

    listing = tmp_path / "src.ndjson"  # of a local directory: no TARGET lists it
    listing.write_bytes(manifest_bytes(source))
    where = [] if target is None else [str(source) if target == "LOCAL" else target]
    args = [*where, "-i", str(listing), "--mode", mode, "--parallel", "4"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [
        "s3-check: error: --parallel applies to list mode with an S3 TARGET only"
    ]
    assert CliRunner().invoke(app, [*where, "-i", str(listing), "--parallel", "65"]).exit_code == 2
