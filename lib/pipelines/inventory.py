"""s3-manifest --inventory: an S3 Inventory report (CSV, Parquet or ORC) as object records,
in S3 key order.

The report is read as AWS writes it. `manifest.json` names the source bucket, the
file format, the columns (`fileSchema`) and the data files (`files`: `key`,
`size`, `MD5checksum`). For a manifest in S3, the data files are fetched from the
manifest's bucket into a temp directory; for a local manifest they are looked up on
disk (see `find_local`). Each file's size and MD5 are checked before any of its rows
is used, so a damaged report stops the run (exit 3) before it writes a record.

Rows: every format's rows become the same fields (lib/io/inventory_csv.py reads CSV,
lib/io/columnar.py Parquet and ORC with pyarrow, batch by batch). CSV keys are
URL-encoded with `+` for a space (as Java's URLEncoder does) and are decoded strictly
as UTF-8; Parquet and ORC keys are not encoded. Sizes, ETags and timestamps are
normalized like a live listing's.
Without --versions only current objects are kept (as ListObjectsV2 gives them); with
it every version and delete marker, which needs a report of all versions.

Order: S3 key order, then newest version first. A first pass over the verified files
notes whether each is sorted and its first and last entry; if the files, taken in
some order, make one sorted sequence, they are read one after the other. Otherwise
all rows go through the external sort (lib/io/extsort.py) in runs of bounded size.

Resume: the cursor is the number of records written and the last one's key and
version. A resumed run fetches and checks the report again (it re-reads it all),
then skips that many records, checking that the last one skipped is the cursor's.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

import msgspec

from lib.io import columnar
from lib.io.extsort import Item, external_sort
from lib.io.inventory_csv import Columns, csv_rows, decode_key
from lib.leaves.errors import FatalError, UsageError
from lib.leaves.flush import FLUSH, Flush
from lib.leaves.location import Location
from lib.leaves.records import DataRecord, ObjectRecord
from lib.leaves.retry import translate_error
from lib.pipelines.coverage import declared
from lib.pipelines.keylist import ResumeSkipper, SortOptions
from lib.pipelines.manifest import count_listed, key_filter
from lib.stores.s3 import normalize_timestamp

CHUNK = 1 << 20
NULL_VERSION = "null"


class DataFile(msgspec.Struct):
    key: str
    size: int | None = None
    md5: str | None = msgspec.field(default=None, name="MD5checksum")


class InventoryManifest(msgspec.Struct, rename="camel"):
    source_bucket: str
    file_format: str
    file_schema: str
    files: list[DataFile]
    destination_bucket: str | None = None


@dataclass
class InventoryOptions:
    versions: bool = False
    url_encoded_keys: bool = False  # Parquet/ORC: decode keys as in CSV reports
    include: Sequence[str] = field(default_factory=list)
    exclude: Sequence[str] = field(default_factory=list)
    sort: SortOptions = field(default_factory=SortOptions)


class Report:
    """A report's manifest.json, read and checked; where its data files are."""

    def __init__(self, url: str, client: Any = None) -> None:
        self.url = url
        self.client = client
        self.is_s3 = url.startswith("s3://")
        if self.is_s3:
            self.bucket, _, self.manifest_key = url[len("s3://") :].partition("/")
            if not self.bucket or not self.manifest_key:
                raise UsageError(f"--inventory {url}: write s3://bucket/path/manifest.json")
            data = self._get(self.manifest_key)
        else:
            self.path = os.path.abspath(url.removeprefix("file://"))
            try:
                with open(self.path, "rb") as handle:
                    data = handle.read()
            except OSError as exc:
                raise UsageError(f"cannot read --inventory {self.path}: {exc.strerror}") from None
        self.md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        try:
            self.manifest = msgspec.json.decode(data, type=InventoryManifest)
        except msgspec.DecodeError as exc:
            raise UsageError(f"{url} is not an S3 Inventory manifest.json: {exc}") from None
        file_format = self.manifest.file_format
        self.format = file_format.upper()
        if self.format != "CSV" and self.format not in columnar.FORMATS:
            raise UsageError(
                f"{url}: the report's fileFormat is {file_format}; CSV, Parquet and ORC "
                "reports can be read"
            )
        if self.format == "CSV":
            self.columns = Columns.parse(self.manifest.file_schema)
        else:
            columnar.require_pyarrow(file_format)

    @property
    def source_bucket(self) -> str:
        return self.manifest.source_bucket

    @property
    def lists_versions(self) -> bool:
        """Whether the report has a version id column (it lists all versions)."""
        if self.format == "CSV":
            return "VersionId" in self.columns.names
        return re.search(r"\bversion_id\b", self.manifest.file_schema) is not None

    def _get(self, key: str) -> bytes:
        try:
            body: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as exc:
            raise translate_error(exc, "GetObject", f"s3://{self.bucket}/{key}") from None
        return body

    def fetch(self, data: DataFile, index: int, scratch: str) -> str:
        """A verified local copy (or the local file itself) of one data file."""
        if self.is_s3:
            where = f"s3://{self.bucket}/{data.key}"
            path = os.path.join(scratch, f"data-{index:06d}.{self.format.lower()}")
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=data.key)
                with contextlib.closing(response["Body"]) as body, open(path, "wb") as out:
                    md5, size = _copy_hashing(body, out)
            except Exception as exc:
                raise translate_error(exc, "GetObject", where) from None
        else:
            found = find_local(os.path.dirname(self.path), data.key)
            if found is None:
                raise FatalError(
                    f"data file {data.key} of {self.path} not found",
                    hint="keep the report's layout: data/ beside the dated directory of "
                    "manifest.json (as `aws s3 sync` copies it), or the files beside manifest.json",
                )
            where = path = found
            with open(path, "rb") as handle:
                md5, size = _copy_hashing(handle, None)
        if data.size is not None and size != data.size:
            raise FatalError(
                f"data file {where} has {size} bytes, the manifest says {data.size}",
                hint="the report is damaged or incomplete; fetch it again",
            )
        if data.md5 is not None and md5 != data.md5.lower():
            raise FatalError(
                f"data file {where} has MD5 {md5}, the manifest says {data.md5}",
                hint="the report is damaged or was changed; fetch it again",
            )
        return path


def find_local(directory: str, key: str) -> str | None:
    """A data file of a local report: the longest tail of its key found below the
    manifest's directory or one of its parents (`data/x.csv.gz` beside the dated
    directory, as `aws s3 sync` of the report leaves it; `x.csv.gz` beside manifest.json;
    or the whole key below a copy of the destination bucket)."""
    parts = [part for part in key.split("/") if part]
    directories = [directory]
    while len(directories) <= len(parts) and os.path.dirname(directories[-1]) != directories[-1]:
        directories.append(os.path.dirname(directories[-1]))
    for start in range(len(parts)):
        tail = os.path.join(*parts[start:])
        for base in directories:
            candidate = os.path.join(base, tail)
            if os.path.isfile(candidate):
                return candidate
    return None


def _copy_hashing(source: IO[bytes], target: IO[bytes] | None) -> tuple[str, int]:
    md5 = hashlib.md5(usedforsecurity=False)
    size = 0
    while chunk := source.read(CHUNK):
        md5.update(chunk)
        size += len(chunk)
        if target is not None:
            target.write(chunk)
    return md5.hexdigest(), size


def _epoch_ms(stamp: str | None) -> int:
    if not stamp:
        return 0
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


class RowReader:
    """Turns one data file's rows into sort items: (key bytes, 0 for the latest version
    else 1, minus the modification time in ms, file number, row number, packed record).
    The first pass (`scan`) only needs the first three and skips building records."""

    def __init__(self, report: Report, location: Location, options: InventoryOptions) -> None:
        self.report = report
        self.bucket = report.source_bucket
        self.prefix = location.prefix
        self.versions = options.versions
        self.decode_keys = options.url_encoded_keys and report.format != "CSV"
        self.keep = key_filter(location.prefix, options.include, options.exclude)
        self._encoder = msgspec.msgpack.Encoder()

    def items(self, path: str, name: str, number: int, *, scan: bool = False) -> Iterator[Item]:
        encode, versions, prefix, keep = self._encoder.encode, self.versions, self.prefix, self.keep
        if self.report.format == "CSV":
            rows = csv_rows(path, name, self.report.columns)
        else:
            rows = columnar.rows(path, name, self.report.manifest.file_format)
        for line, fields in rows:
            if self.decode_keys:
                fields = (decode_key(fields[0], name, line), *fields[1:])
            key, _, is_latest, delete_marker = fields[:4]
            if not key.startswith(prefix) or (keep is not None and not keep(key)):
                continue
            if not versions and (delete_marker or not is_latest):
                continue
            try:
                modified = _timestamp(fields[5])
            except ValueError as exc:
                raise UsageError(f"{name}: line {line}: {exc}") from None
            order = (
                key.encode("utf-8"),
                0 if is_latest else 1,
                -_epoch_ms(modified) if versions else 0,
            )
            if scan:
                yield order
                continue
            yield (*order, number, line, encode(self._record(fields, modified)))

    def _record(self, fields: columnar.Fields, modified: str | None) -> ObjectRecord:
        key, version_id, is_latest, delete_marker, size, _, etag, storage, checksum = fields
        return ObjectRecord(
            bucket=self.bucket,
            key=key,
            size=size if size is not None else (None if delete_marker else 0),
            etag=etag.strip('"') or None if etag else None,
            last_modified=modified,
            storage_class=storage,
            version_id=(version_id or NULL_VERSION) if self.versions else None,
            is_latest=is_latest,
            delete_marker=delete_marker,
            checksum_algorithm=checksum,
        )


def _timestamp(text: str | None) -> str | None:
    if not text:
        return None
    return text if len(text) == 24 and text[-1] == "Z" else normalize_timestamp(text)


@dataclass
class _Scan:
    """What the first pass learned of one data file."""

    path: str
    name: str
    number: int
    count: int = 0
    in_order: bool = True
    first: Item | None = None
    last: Item | None = None


class InventoryPipeline:
    classify = staticmethod(count_listed)

    def __init__(
        self,
        report: Report,
        location: Location,
        options: InventoryOptions,
        *,
        cursor: dict[str, Any] | None = None,
    ) -> None:
        self.report = report
        self.location = location
        self.options = options
        self.complete = False
        self.rows = RowReader(report, location, options)
        self._skipper = ResumeSkipper(cursor, "inventory report")
        self.coverage = declared(location.prefix, options.include, options.exclude)
        self.notes: list[str] = []

    def cursor(self) -> dict[str, Any]:
        return self._skipper.cursor()

    def __iter__(self) -> Iterator[DataRecord | Flush]:
        decode = msgspec.msgpack.Decoder(ObjectRecord).decode
        with tempfile.TemporaryDirectory(
            prefix="s3deep-inventory-", dir=self.options.sort.temp_dir
        ) as scratch:
            scans: list[_Scan] = []
            for number, data in enumerate(self.report.manifest.files):
                path = self.report.fetch(data, number, scratch)
                scans.append(self._scan(path, data.key, number))
                yield FLUSH  # a file done: time to commit and to notice a signal
            for item in self._in_order(scans, scratch):
                record = decode(item[-1])
                if not self._skipper.already_written(record.key, record.version_id):
                    yield record
        self._skipper.finish()
        self.complete = True

    def _scan(self, path: str, name: str, number: int) -> _Scan:
        scan = _Scan(path, name, number)
        previous: Item | None = None
        for order in self.rows.items(path, name, number, scan=True):
            if previous is not None and order < previous:
                scan.in_order = False
            if scan.first is None:
                scan.first = order
            previous = order
            scan.count += 1
        scan.last = previous
        return scan

    def _read(self, scan: _Scan) -> Iterator[Item]:
        return self.rows.items(scan.path, scan.name, scan.number)

    def _in_order(self, scans: list[_Scan], scratch: str) -> Iterator[Item]:
        filled = sorted((s for s in scans if s.count), key=lambda s: (s.first, s.number))
        if all(s.in_order for s in filled) and all(
            a.last is not None and b.first is not None and a.last <= b.first
            for a, b in itertools.pairwise(filled)
        ):
            for scan in filled:
                yield from self._read(scan)
            return
        every_row = itertools.chain.from_iterable(self._read(s) for s in scans)
        yield from external_sort(every_row, run_size=self.options.sort.run_size, directory=scratch)
