"""Rows of S3 Inventory data files in Parquet and ORC, read with pyarrow.

AWS writes these reports with snake_case columns (`key`, `version_id`, `is_latest`,
`is_delete_marker`, `size`, `last_modified_date`, `e_tag`, `storage_class`,
`checksum_algorithm`, ...), typed: booleans, int64 sizes and timestamps. Keys are
written as they are: AWS URL-encodes keys in CSV reports only. The data file's own
schema says which columns are there; a column the report lacks reads as null.

Memory stays flat in the report's size: Parquet files are read a batch of rows at a
time (pyarrow holds one row group's column chunks), ORC files a batch at a time, and
every batch is turned into Python values in slices of SLICE_ROWS.

pyarrow is an optional dependency (the `inventory` extra), imported only here and only
when a Parquet or ORC report is read.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from lib.leaves.errors import UsageError

SLICE_ROWS = 16384
FORMATS = ("PARQUET", "ORC")

# What RowReader needs of a row: key, version_id, is_latest, delete_marker, size,
# last_modified (as the file has it), etag, storage_class, checksum_algorithm.
Fields = tuple[
    str, str | None, bool, bool, int | None, str | None, str | None, str | None, str | None
]
COLUMNS = (
    "key",
    "version_id",
    "is_latest",
    "is_delete_marker",
    "size",
    "last_modified_date",
    "e_tag",
    "storage_class",
    "checksum_algorithm",
)
STAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # %S of a millisecond timestamp prints 00.000


def require_pyarrow(file_format: str) -> None:
    """Refuses (exit 2, with the command to run) a report that needs pyarrow without it."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise UsageError(
            f"reading a {file_format} inventory report needs pyarrow, which is not installed",
            hint="pip install 's3deep[inventory]' (or: pip install pyarrow)",
        ) from None


def rows(path: str, name: str, file_format: str) -> Iterator[tuple[int, Fields]]:
    """(row number from 1, fields) of every row of one Parquet or ORC data file."""
    import pyarrow as pa

    number = 0
    try:
        for batch in _batches(path, file_format.upper()):
            for start in range(0, batch.num_rows, SLICE_ROWS):
                piece = batch.slice(start, SLICE_ROWS)
                columns = [_values(piece, column, piece.num_rows) for column in COLUMNS]
                for fields in zip(*columns, strict=True):
                    number += 1
                    if fields[0] is None:
                        raise UsageError(f"{name}: row {number}: the key is null")
                    yield number, _fields(fields)
    except (pa.ArrowException, OSError) as exc:
        raise UsageError(
            f"{name}: row {number + 1}: unreadable {file_format} data: {exc}"
        ) from None


def _batches(path: str, file_format: str) -> Iterator[Any]:
    if file_format == "ORC":
        # The dataset reader reads SLICE_ROWS rows at a time; ORCFile.read_stripe would
        # hold a whole stripe (a 1M-row stripe: 227 MB peak RSS instead of 123 MB).
        import pyarrow.dataset as ds

        source = ds.dataset(path, format="orc")
        wanted = [c for c in COLUMNS if c in source.schema.names]
        _check_key(wanted, path)
        yield from source.to_batches(
            columns=wanted,
            batch_size=SLICE_ROWS,
            use_threads=False,
            batch_readahead=0,  # batches wait here while rows are turned into records
            fragment_readahead=0,
        )
        return
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as parquet:
        wanted = [c for c in COLUMNS if c in parquet.schema_arrow.names]
        _check_key(wanted, path)
        yield from parquet.iter_batches(batch_size=SLICE_ROWS, columns=wanted)


def _check_key(columns: list[str], path: str) -> None:
    if "key" not in columns:
        raise UsageError(f"{path}: the data file has no key column")


def _values(batch: Any, column: str, count: int) -> Any:
    """One column of a batch as Python values (None throughout if the file lacks it)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if column not in batch.schema.names:
        return itertools.repeat(None, count)
    array = batch.column(column)
    kind = array.type
    if column == "last_modified_date":
        if pa.types.is_timestamp(kind):
            # ORC timestamps come without a zone (AWS writes UTC) and in ns; keep ms.
            array = array.cast(pa.timestamp("ms", tz="UTC" if kind.tz else None), safe=False)
            return pc.strftime(array, format=STAMP_FORMAT).to_pylist()
        if pa.types.is_integer(kind):  # epoch milliseconds without the annotation
            array = array.cast(pa.timestamp("ms", tz="UTC"))
            return pc.strftime(array, format=STAMP_FORMAT).to_pylist()
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        array = array.cast(pa.string())  # validates UTF-8: a bad key fails the file
    return array.to_pylist()


def _fields(values: tuple[Any, ...]) -> Fields:
    key, version_id, is_latest, delete_marker, size, modified, etag, storage, checksum = values
    return (
        key,
        version_id or None,
        True if is_latest is None else bool(is_latest),
        bool(delete_marker),
        None if size is None else int(size),
        str(modified) if modified else None,
        etag or None,
        storage or None,
        checksum or None,
    )
