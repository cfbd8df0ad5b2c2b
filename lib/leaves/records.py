"""The record format every stage reads and writes (DESIGN.md, "Records").

One msgspec Struct per record type, tagged by the `type` field. Every field that
is not needed to identify a record has a default, so older writers and newer
readers keep understanding each other; unknown fields are ignored on input.
"""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec

FORMAT_VERSION = 1
MAX_OBJECT_SIZE = 5 << 40  # 5 TiB, S3's largest object
# Checked where records are decoded, at no cost: a negative or impossible size, or an
# empty key, is bad input (lib/io/ndjson.py checks the rest of what makes a key S3's).
Size = Annotated[int, msgspec.Meta(ge=0, le=MAX_OBJECT_SIZE)]
Key = Annotated[str, msgspec.Meta(min_length=1)]


class Header(msgspec.Struct, kw_only=True, tag_field="type", tag="header"):
    stage: str
    version: int = FORMAT_VERSION
    source: str | None = None
    started: str | None = None
    upstream: dict[str, Any] | None = None
    coverage: dict[str, Any] | None = None


class ObjectRecord(msgspec.Struct, kw_only=True, tag_field="type", tag="object"):
    bucket: str
    key: Key
    size: Size | None = None
    etag: str | None = None
    last_modified: str | None = None
    storage_class: str | None = None
    version_id: str | None = None
    is_latest: bool = True
    delete_marker: bool = False
    checksum_algorithm: str | None = None


class CheckRecord(msgspec.Struct, kw_only=True, tag_field="type", tag="check"):
    bucket: str
    key: Key
    version_id: str | None = None
    status: str
    expected: ObjectRecord | None = None
    actual: ObjectRecord | None = None
    detail: str | None = None


class Source(msgspec.Struct):
    bucket: str
    key: str


class RepairRecord(msgspec.Struct, kw_only=True, tag_field="type", tag="repair"):
    bucket: str
    key: str
    status: str
    action: str | None = None
    source: Source | None = None
    attempts: int = 0
    bytes: int = 0
    ms: int = 0
    error: str | None = None


class DeleteRecord(msgspec.Struct, kw_only=True, tag_field="type", tag="delete"):
    bucket: str
    key: str
    version_id: str | None = None
    status: str
    error: str | None = None


class ErrorRecord(msgspec.Struct, kw_only=True, tag_field="type", tag="error"):
    stage: str
    line: int | None = None
    message: str
    input: str | None = None
    key: str | None = None


class Summary(msgspec.Struct, kw_only=True, tag_field="type", tag="summary"):
    stage: str
    complete: bool = False
    counts: dict[str, int] = msgspec.field(default_factory=dict)
    bytes: int = 0
    elapsed_s: float = 0.0
    resumed: int = 0


Record = Header | ObjectRecord | CheckRecord | RepairRecord | DeleteRecord | ErrorRecord | Summary

# Records that carry data (everything but the framing header and summary).
DataRecord = ObjectRecord | CheckRecord | RepairRecord | DeleteRecord | ErrorRecord


def new_decoder() -> msgspec.json.Decoder[Record]:
    """One decoder per stage: building it compiles the union once."""
    return msgspec.json.Decoder(Record)


def new_encoder() -> msgspec.json.Encoder:
    return msgspec.json.Encoder()


def utc_now() -> str:
    """RFC 3339 UTC with millisecond precision, the form S3 uses."""
    return format_timestamp(datetime.now(UTC).timestamp())


def format_timestamp(epoch_seconds: float) -> str:
    """RFC 3339 UTC: the time rounded to microseconds, as `datetime` does, and then cut
    to milliseconds.

    A local listing formats one per file, and files mostly share their seconds with
    their neighbours, so the formatted second is cached."""
    whole = math.floor(epoch_seconds)
    micros = round((epoch_seconds - whole) * 1e6)  # half to even, as datetime does
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    return f"{_format_second(whole)}.{micros // 1000:03d}Z"


@functools.lru_cache(maxsize=4096)
def _format_second(epoch_second: int) -> str:
    return datetime.fromtimestamp(epoch_second, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def header_as_dict(header: Header) -> dict[str, Any]:
    """The form an upstream header takes inside a downstream header."""
    result: dict[str, Any] = msgspec.to_builtins(header)
    return result
