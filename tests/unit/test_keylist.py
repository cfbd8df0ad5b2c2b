"""s3-manifest --keys as a library: a key list as sorted, deduplicated object records."""

from __future__ import annotations

import io
from typing import Any

import pytest

from lib.leaves.errors import BadInput, UsageError
from lib.leaves.flush import FLUSH
from lib.leaves.location import parse_location
from lib.leaves.records import ObjectRecord
from lib.pipelines.keylist import KeyListOptions, KeyListPipeline, SortOptions


def run(
    data: bytes, location: str = "s3://b/", cursor: dict[str, Any] | None = None, **options: Any
) -> tuple[list[str], KeyListPipeline]:
    pipeline = KeyListPipeline(
        io.BytesIO(data),
        parse_location(location),
        KeyListOptions(sort=SortOptions(run_size=2), **options),
        cursor=cursor,
    )
    records = [record for record in pipeline if record is not FLUSH]
    assert all(isinstance(record, ObjectRecord) for record in records)
    return [record.key for record in records if isinstance(record, ObjectRecord)], pipeline


def test_keys_come_out_in_byte_order_once_each_with_null_metadata() -> None:
    data = "z\r\nb/é\n\n a \na+b%20\nb/é\nb/e\nA".encode()
    keys, pipeline = run(data)
    assert keys == sorted({"z", "b/é", " a ", "a+b%20", "b/e", "A"}, key=str.encode)
    assert pipeline.complete
    record = ObjectRecord(bucket="b", key="z")
    assert (record.size, record.etag, record.last_modified, record.version_id) == (None,) * 4


def test_keys_must_be_under_the_prefix_and_globs_apply_below_it() -> None:
    keys, _ = run(b"logs/a.gz\nlogs/b.txt\n", "s3://b/logs/", include=["*.gz"])
    assert keys == ["logs/a.gz"]
    with pytest.raises(BadInput, match=r"line 2: key 'other/x' is not under the prefix 'logs/'"):
        run(b"logs/a\nother/x\n", "s3://b/logs/")


def test_bad_utf8_names_its_line() -> None:
    with pytest.raises(BadInput, match=r"^line 3: not UTF-8"):
        run(b"a\n\n\xff\xfe\n")


def test_resume_skips_what_was_written_and_checks_it_is_the_same_list() -> None:
    data = b"d\nc\nb\na\n"
    keys, _ = run(data, cursor={"emitted": 2, "key": "b", "version_id": None})
    assert keys == ["c", "d"]
    with pytest.raises(UsageError, match="differs"):
        run(data, cursor={"emitted": 2, "key": "x", "version_id": None})
    with pytest.raises(UsageError, match="differs"):
        run(b"a\n", cursor={"emitted": 2, "key": "b", "version_id": None})


def test_cursor_names_the_last_record_written() -> None:
    pipeline = KeyListPipeline(io.BytesIO(b"b\na\n"), parse_location("s3://b/"), KeyListOptions())
    iterator = iter(pipeline)
    next(iterator)
    assert pipeline.cursor() == {"emitted": 1, "key": "a", "version_id": None}
