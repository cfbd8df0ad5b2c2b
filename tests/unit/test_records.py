"""Records: exactly DESIGN.md's fields, tagged by `type`, tolerant of new fields."""

import json
import random
from datetime import UTC, datetime

import msgspec
import pytest

from lib.leaves.records import (
    CheckRecord,
    DeleteRecord,
    ErrorRecord,
    Header,
    ObjectRecord,
    RepairRecord,
    Summary,
    format_timestamp,
    new_decoder,
    new_encoder,
)

DESIGN_FIELDS = {
    "header": ["stage", "version", "source", "started", "upstream", "coverage"],
    "object": [
        "bucket",
        "key",
        "size",
        "etag",
        "last_modified",
        "storage_class",
        "version_id",
        "is_latest",
        "delete_marker",
        "checksum_algorithm",
    ],
    "check": ["bucket", "key", "version_id", "status", "expected", "actual", "detail"],
    "repair": ["bucket", "key", "status", "action", "source", "attempts", "bytes", "ms", "error"],
    "delete": ["bucket", "key", "version_id", "status", "error"],
    "error": ["stage", "line", "message", "input", "key"],
    "summary": ["stage", "complete", "counts", "bytes", "elapsed_s", "resumed"],
}

SAMPLES = [
    Header(stage="s3-manifest", source="s3://b/p", started="2026-01-01T00:00:00.000Z"),
    ObjectRecord(bucket="b", key="k", size=1, etag="e", last_modified="2026-01-01T00:00:00.000Z"),
    CheckRecord(bucket="b", key="k", status="missing", expected=ObjectRecord(bucket="a", key="k")),
    RepairRecord(bucket="b", key="k", status="repaired", action="copy"),
    DeleteRecord(bucket="b", key="k", status="deleted"),
    ErrorRecord(stage="s3-check", line=3, message="bad", input="{"),
    Summary(stage="s3-check", complete=True, counts={"ok": 2}, bytes=5),
]


@pytest.mark.parametrize("record", SAMPLES, ids=lambda r: type(r).__name__)
def test_fields_are_exactly_the_contract_in_order(record: object) -> None:
    line = new_encoder().encode(record)
    fields = list(json.loads(line))
    assert fields[0] == "type"
    assert fields[1:] == DESIGN_FIELDS[json.loads(line)["type"]]


@pytest.mark.parametrize("record", SAMPLES, ids=lambda r: type(r).__name__)
def test_round_trip(record: object) -> None:
    decoder = new_decoder()
    assert decoder.decode(new_encoder().encode(record)) == record


def test_unknown_fields_are_ignored_and_new_fields_default() -> None:
    line = b'{"type":"object","bucket":"b","key":"k","from_the_future":[1,2]}'
    record = new_decoder().decode(line)
    assert record == ObjectRecord(bucket="b", key="k")
    assert record.size is None and record.is_latest is True and record.delete_marker is False


def test_missing_required_field_is_an_error() -> None:
    with pytest.raises(msgspec.ValidationError, match="key"):
        new_decoder().decode(b'{"type":"object","bucket":"b"}')


def test_unknown_type_is_an_error() -> None:
    with pytest.raises(msgspec.ValidationError, match="nonsense"):
        new_decoder().decode(b'{"type":"nonsense","bucket":"b"}')


@pytest.mark.parametrize(
    "key", ["line\nbreak", "cr\rlf", "a b+c%20&<>\"'", "/lead//x/../y", "ü😀\uffff", "k" * 1024]
)
def test_hard_keys_round_trip_on_one_line(key: str) -> None:
    line = new_encoder().encode(ObjectRecord(bucket="b", key=key))
    assert b"\n" not in line
    assert new_decoder().decode(line).key == key


def test_timestamps_are_rfc3339_utc_with_milliseconds() -> None:
    assert format_timestamp(0) == "1970-01-01T00:00:00.000Z"
    assert format_timestamp(1700000000.1234) == "2023-11-14T22:13:20.123Z"


def test_format_timestamp_agrees_with_datetime_at_the_edges() -> None:
    def reference(epoch: float) -> str:
        stamp = datetime.fromtimestamp(epoch, UTC)
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"

    rng = random.Random(7)
    samples = [rng.uniform(-1e9, 4e9) for _ in range(20000)]
    samples += [1700000000 + k / 1000 + d for k in range(1000) for d in (0, 1e-7, -1e-7, 5e-7)]
    samples += [1700000000.9999995, 1700000000.9999994, 1700000000.0000005, -0.0000004, 59.9999999]
    for epoch in samples:
        assert format_timestamp(epoch) == reference(epoch), epoch
