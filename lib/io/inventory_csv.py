"""Rows of S3 Inventory data files in CSV, as AWS writes them.

The manifest's fileSchema names the columns (`Bucket, Key, VersionId, IsLatest, ...`);
rows are fully quoted, without a header line, gzip-compressed. Keys are URL-encoded
with `+` for a space (as Java's URLEncoder does) and are decoded strictly as UTF-8.
Every row becomes the same fields as a Parquet or ORC row (lib/io/columnar.py).
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import unquote_plus

from lib.io.columnar import Fields
from lib.leaves.errors import UsageError


@dataclass(frozen=True)
class Columns:
    """Where each field the records need is in a row. A field the report lacks points
    at `count`, one past the last column, where every row gets an empty string."""

    count: int
    key: int
    version_id: int
    is_latest: int
    delete_marker: int
    size: int
    last_modified: int
    etag: int
    storage_class: int
    checksum_algorithm: int
    names: frozenset[str]

    @classmethod
    def parse(cls, schema: str) -> Columns:
        names = [name.strip() for name in schema.split(",")]
        where = {name: index for index, name in enumerate(names)}
        if "Key" not in where:
            raise UsageError(f"the report's fileSchema has no Key column: {schema!r}")
        absent = len(names)
        return cls(
            count=len(names),
            key=where["Key"],
            version_id=where.get("VersionId", absent),
            is_latest=where.get("IsLatest", absent),
            delete_marker=where.get("IsDeleteMarker", absent),
            size=where.get("Size", absent),
            last_modified=where.get("LastModifiedDate", absent),
            etag=where.get("ETag", absent),
            storage_class=where.get("StorageClass", absent),
            checksum_algorithm=where.get("ChecksumAlgorithm", absent),
            names=frozenset(names),
        )


def csv_rows(path: str, name: str, columns: Columns) -> Iterator[tuple[int, Fields]]:
    """(line number, fields) of every row of one CSV data file (gzip or plain)."""
    count, key_at, latest_at, marker_at, size_at = (
        columns.count,
        columns.key,
        columns.is_latest,
        columns.delete_marker,
        columns.size,
    )
    has_latest = columns.is_latest < count
    with _open_text(path) as text:
        reader = csv.reader(text, strict=True)
        try:
            for row in reader:
                if len(row) != count:
                    if not row:
                        continue
                    raise UsageError(
                        f"{name}: line {reader.line_num}: {len(row)} fields, the fileSchema "
                        f"has {count}"
                    )
                row.append("")  # what the columns the report lacks point at
                size = row[size_at]
                yield (
                    reader.line_num,
                    (
                        decode_key(row[key_at], name, reader.line_num),
                        row[columns.version_id] or None,
                        not has_latest or row[latest_at] == "true",
                        row[marker_at] == "true",
                        int(size) if size else None,
                        row[columns.last_modified] or None,
                        row[columns.etag] or None,
                        row[columns.storage_class] or None,
                        row[columns.checksum_algorithm] or None,
                    ),
                )
        except (csv.Error, UnicodeDecodeError, EOFError, gzip.BadGzipFile) as exc:
            raise UsageError(f"{name}: line {reader.line_num + 1}: unreadable: {exc}") from None
        except ValueError as exc:
            raise UsageError(f"{name}: line {reader.line_num}: {exc}") from None


def decode_key(encoded: str, name: str, line: int) -> str:
    """Inventory keys are URL-encoded with `+` for a space; most need no decoding."""
    if "%" not in encoded and "+" not in encoded:
        return encoded
    try:
        return unquote_plus(encoded, errors="strict")
    except UnicodeDecodeError:
        raise UsageError(f"{name}: line {line}: the key is not URL-encoded UTF-8") from None


@contextlib.contextmanager
def _open_text(path: str) -> Iterator[IO[str]]:
    with open(path, "rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream: Any = gzip.GzipFile(fileobj=raw) if compressed else raw
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="strict", newline="")
        try:
            yield text
        finally:
            text.detach()
