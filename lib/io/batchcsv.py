"""`--format s3-batch-csv`: records written as an S3 Batch Operations CSV manifest.

The format (S3BatchOperations_CSV_20180820) is one `Bucket,Key[,VersionId]` row per
object, no header, keys URL-encoded with `/` left as it is (`object%20key`,
`photos/jpgs/a.jpg`), and either every row has a version id or none has.

A row names the object a Batch Operations job would act on:
- `object` record: the listed object (delete markers are left out: no operation
  applies to them);
- `check` record: the expected object (the source a Batch copy job copies from)
  with its version; for `extra`, which has none, the target object found;
- `repair` record: the source it copies from;
- `delete` record: the object (version) it deletes.
Headers, summaries and error records have no row; the NDJSON output has them.

The writer is a RecordWriter that encodes rows instead of JSON lines, so commits,
gzip members, truncation on resume and byte-identical resumed output work the same.
Whether rows carry a version column is decided by the first row and, on resume,
read back from the first row already in the file.
"""

from __future__ import annotations

import os
from typing import IO
from urllib.parse import quote

from lib.io.ndjson import FLUSH_BYTES, RecordWriter, decompress_head
from lib.leaves.errors import UsageError
from lib.leaves.records import CheckRecord, DeleteRecord, ObjectRecord, Record, RepairRecord

Row = tuple[str, str, str | None]


def batch_row(record: Record) -> Row | None:
    """(bucket, key, version id) of the object `record` names, or None for no row."""
    match record:
        case ObjectRecord(delete_marker=False):
            return record.bucket, record.key, record.version_id
        case CheckRecord(expected=ObjectRecord() as expected):
            return expected.bucket, expected.key, expected.version_id
        case CheckRecord(actual=ObjectRecord() as actual):
            return actual.bucket, actual.key, actual.version_id
        case CheckRecord():
            return record.bucket, record.key, record.version_id
        case RepairRecord(source=source) if source is not None:
            return source.bucket, source.key, None
        case RepairRecord():
            return record.bucket, record.key, None
        case DeleteRecord():
            return record.bucket, record.key, record.version_id
    return None


def encode_row(bucket: str, key: str, version_id: str | None) -> bytes:
    """One CSV line: the key percent-encoded as UTF-8 (all but unreserved characters and /)."""
    if bucket.startswith("/"):
        raise UsageError(
            f"--format s3-batch-csv names S3 objects, and {bucket} is a local directory"
        )
    fields = [bucket, quote(key, safe="/")]
    if version_id is not None:
        # AWS version ids are left as they are; a server whose ids hold `,` or a
        # newline still gets one well-formed row.
        fields.append(quote(version_id, safe=""))
    return ",".join(fields).encode("ascii") + b"\n"


class BatchCsvWriter(RecordWriter):
    """Writes the rows of `batch_row`; every other record is left out."""

    def __init__(
        self, raw: IO[bytes], *, is_file: bool, offset: int = 0, compression: str | None = None
    ):
        super().__init__(raw, is_file=is_file, offset=offset, compression=compression)
        self._versioned: bool | None = None
        self._failure: UsageError | None = None
        if is_file and offset > 0:
            self._versioned = _first_row_versioned(raw, compression)

    def write(self, record: Record) -> None:
        self._raise_failure()
        row = batch_row(record)
        if row is None:
            return
        versioned = row[2] is not None
        if self._versioned is None:
            self._versioned = versioned
        elif versioned != self._versioned:
            self._failure = UsageError(
                f"--format s3-batch-csv: {row[0]}/{row[1]!r} has "
                f"{'a' if versioned else 'no'} version id, unlike the rows before it; a Batch "
                "Operations manifest has version ids on all rows or on none",
                hint="select records of one kind (e.g. --status), or write NDJSON",
            )
            self._raise_failure()
        self._buffer += encode_row(*row)
        if len(self._buffer) >= FLUSH_BYTES:
            self.flush()

    def sync(self) -> int:
        # After a failure nothing more may be committed: a rerun must meet the same
        # record again rather than resume past it.
        self._raise_failure()
        return super().sync()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure


def writer_class(output_format: str) -> type[RecordWriter]:
    """The RecordWriter class of an output format (a value of FORMATS)."""
    return BatchCsvWriter if output_format == "s3-batch-csv" else RecordWriter


def _first_row_versioned(raw: IO[bytes], compression: str | None) -> bool | None:
    """Whether the first row of an existing output has a version column."""
    head = decompress_head(os.pread(raw.fileno(), 1 << 16, 0), compression, 1 << 16)
    line = head.split(b"\n", 1)[0]
    return line.count(b",") == 2 if line else None
