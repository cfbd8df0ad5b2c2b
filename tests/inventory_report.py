"""S3 Inventory reports (CSV, Parquet, ORC) for tests, in the layout and format AWS
writes them.

`build_report` returns the report's objects ({key in the destination bucket: bytes}):
`<prefix>/<source>/<config>/<stamp>/manifest.json` (+ manifest.checksum) and data
files under `<prefix>/<source>/<config>/data/`, each listed in the manifest with its
size and MD5. Put them into a bucket (`put_report`) or under a directory
(`write_report`, the layout `aws s3 sync` of the destination bucket leaves).
CSV rows are fully quoted, without a header line; keys are URL-encoded as Java's
URLEncoder does it (space as `+`); delete markers have empty size, ETag and class.
Parquet and ORC files have AWS's snake_case columns (`key`, `version_id`, `is_latest`,
`is_delete_marker`, `size`, `last_modified_date` as a timestamp, `e_tag`, ...), keys as
they are (only CSV URL-encodes them), nulls where CSV has empty fields, and the manifest's
fileSchema is the file's schema as AWS writes it (`message s3.inventory {...}` for
Parquet, `struct<...>` for ORC). Parquet files get several row groups.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

ALL_VERSIONS_SCHEMA = (
    "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, "
    "StorageClass, IsMultipartUploaded, ReplicationStatus, EncryptionStatus, ChecksumAlgorithm"
)
CURRENT_SCHEMA = "Bucket, Key, Size, LastModifiedDate, ETag, StorageClass"


@dataclass
class Entry:
    key: str
    size: int | None = 0
    etag: str | None = "d41d8cd98f00b204e9800998ecf8427e"
    last_modified: str = "2026-11-20T10:00:00.000Z"
    storage_class: str | None = "STANDARD"
    version_id: str | None = None
    is_latest: bool = True
    delete_marker: bool = False
    checksum_algorithm: str | None = None


def encode_key(key: str) -> str:
    """Java URLEncoder: letters, digits and `.-*_` stay, space is `+`, the rest `%XX`."""
    return quote_plus(key, safe="*").replace("~", "%7E")


def _row(bucket: str, entry: Entry, schema: Sequence[str]) -> list[str]:
    fields: dict[str, Any] = {
        "Bucket": bucket,
        "Key": encode_key(entry.key),
        "VersionId": entry.version_id or "",
        "IsLatest": "true" if entry.is_latest else "false",
        "IsDeleteMarker": "true" if entry.delete_marker else "false",
        "Size": "" if entry.size is None else str(entry.size),
        "LastModifiedDate": entry.last_modified,
        "ETag": entry.etag or "",
        "StorageClass": entry.storage_class or "",
        "IsMultipartUploaded": "true" if entry.etag and "-" in entry.etag else "false",
        "ReplicationStatus": "",
        "EncryptionStatus": "SSE-S3",
        "ChecksumAlgorithm": entry.checksum_algorithm or "",
    }
    return [fields[name] for name in schema]


# CSV column → (Parquet/ORC column, its ORC type); PARQUET_TYPE maps the ORC type.
COLUMNAR = {
    "Bucket": ("bucket", "string"),
    "Key": ("key", "string"),
    "VersionId": ("version_id", "string"),
    "IsLatest": ("is_latest", "boolean"),
    "IsDeleteMarker": ("is_delete_marker", "boolean"),
    "Size": ("size", "bigint"),
    "LastModifiedDate": ("last_modified_date", "timestamp"),
    "ETag": ("e_tag", "string"),
    "StorageClass": ("storage_class", "string"),
    "IsMultipartUploaded": ("is_multipart_uploaded", "boolean"),
    "ReplicationStatus": ("replication_status", "string"),
    "EncryptionStatus": ("encryption_status", "string"),
    "ChecksumAlgorithm": ("checksum_algorithm", "string"),
}
PARQUET_TYPE = {
    "string": "binary {} (UTF8)",
    "boolean": "boolean {}",
    "bigint": "int64 {}",
    "timestamp": "int64 {} (TIMESTAMP_MILLIS)",
}
SUFFIX = {"CSV": ".csv.gz", "PARQUET": ".parquet", "ORC": ".orc"}


def schema_text(schema: str, file_format: str) -> str:
    """The manifest's fileSchema for a report of these CSV-named columns."""
    names = [name.strip() for name in schema.split(",")]
    if file_format.upper() == "CSV":
        return schema
    if file_format.upper() == "ORC":
        return "struct<" + ",".join(f"{COLUMNAR[n][0]}:{COLUMNAR[n][1]}" for n in names) + ">"
    fields = []
    for name in names:
        column, kind = COLUMNAR[name]
        required = "required" if name in ("Bucket", "Key") else "optional"
        fields.append(f"{required} {PARQUET_TYPE[kind].format(column)};")
    return "message s3.inventory { " + " ".join(fields) + " }"


def columnar_file(
    bucket: str, entries: Sequence[Entry], schema: str, file_format: str, *, encoded: bool
) -> bytes:
    """A Parquet or ORC data file of the entries: keys as they are (as AWS writes them), or
    URL-encoded like CSV keys (`encoded`)."""
    import pyarrow as pa
    import pyarrow.orc as orc
    import pyarrow.parquet as pq

    names = [name.strip() for name in schema.split(",")]
    rows = [_row(bucket, entry, names) for entry in entries]
    columns: dict[str, Any] = {}
    for index, name in enumerate(names):
        values: list[Any] = [row[index] or None for row in rows]
        column_name, kind = COLUMNAR[name]
        if name == "Key":
            keys = [encode_key(e.key) if encoded else e.key for e in entries]
            column = pa.array(keys, pa.string())
        elif kind == "boolean":
            column = pa.array([v == "true" for v in values], pa.bool_())
        elif kind == "bigint":
            column = pa.array([None if v is None else int(v) for v in values], pa.int64())
        elif kind == "timestamp":
            stamps = [None if v is None else _parse_stamp(v) for v in values]
            column = pa.array(stamps, pa.timestamp("ms", tz="UTC"))
        else:
            column = pa.array(values, pa.string())
        columns[column_name] = column
    table = pa.table(columns)
    sink = io.BytesIO()
    if file_format.upper() == "ORC":
        orc.write_table(table, sink, compression="zlib")  # as AWS writes ORC
    else:
        pq.write_table(table, sink, row_group_size=max(1, len(rows) // 3))
    return sink.getvalue()


def _parse_stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def data_file(
    bucket: str,
    entries: Iterable[Entry],
    schema: str,
    file_format: str = "CSV",
    *,
    encoded_keys: bool = False,
) -> bytes:
    if file_format.upper() != "CSV":
        return columnar_file(bucket, list(entries), schema, file_format, encoded=encoded_keys)
    names = [name.strip() for name in schema.split(",")]
    text = io.StringIO(newline="")
    writer = csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for entry in entries:
        writer.writerow(_row(bucket, entry, names))
    return gzip.compress(text.getvalue().encode("utf-8"), mtime=0)


@dataclass
class Report:
    objects: dict[str, bytes]
    manifest_key: str

    def data_keys(self) -> list[str]:
        return [key for key in self.objects if key.endswith(tuple(SUFFIX.values()))]


def build_report(
    source_bucket: str,
    files: Sequence[Sequence[Entry]],
    *,
    schema: str = ALL_VERSIONS_SCHEMA,
    file_format: str = "CSV",
    destination_bucket: str = "inventory-destination",
    prefix: str = "inventory",
    config: str = "daily",
    stamp: str = "2026-11-21T01-00Z",
    bad_md5: Mapping[int, str] | None = None,
    encoded_keys: bool = False,
) -> Report:
    """A report whose n-th data file holds files[n]; `bad_md5` replaces listed MD5s;
    `encoded_keys` URL-encodes Parquet and ORC keys too."""
    base = f"{prefix}/{source_bucket}/{config}"
    objects: dict[str, bytes] = {}
    listed = []
    for number, entries in enumerate(files):
        suffix = SUFFIX.get(file_format.upper(), ".csv.gz")
        key = f"{base}/data/{number:04d}-3b1f8c2e-5d2a-4f8e-9c61-0a7d{number:08d}{suffix}"
        body = data_file(source_bucket, entries, schema, file_format, encoded_keys=encoded_keys)
        objects[key] = body
        md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
        listed.append(
            {"key": key, "size": len(body), "MD5checksum": (bad_md5 or {}).get(number, md5)}
        )
    manifest = {
        "sourceBucket": source_bucket,
        "destinationBucket": f"arn:aws:s3:::{destination_bucket}",
        "version": "2016-11-30",
        "creationTimestamp": "1763686800000",
        "fileFormat": file_format,
        "fileSchema": schema_text(schema, file_format),
        "files": listed,
    }
    manifest_bytes = json.dumps(manifest, indent=1).encode()
    manifest_key = f"{base}/{stamp}/manifest.json"
    objects[manifest_key] = manifest_bytes
    objects[f"{base}/{stamp}/manifest.checksum"] = (
        hashlib.md5(manifest_bytes, usedforsecurity=False).hexdigest().encode()
    )
    return Report(objects, manifest_key)


def write_report(report: Report, root: Path) -> Path:
    """The report under root as `aws s3 sync s3://destination root` leaves it."""
    for key, body in report.objects.items():
        path = root.joinpath(*key.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return root.joinpath(*report.manifest_key.split("/"))


def entries_from_listing(client: Any, bucket: str, *, versions: bool) -> list[Entry]:
    """What an inventory of the bucket would list now, from a live listing."""
    stamp = "%Y-%m-%dT%H:%M:%S.%f"
    entries = []
    if not versions:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                entries.append(
                    Entry(
                        key=item["Key"],
                        size=item["Size"],
                        etag=item["ETag"].strip('"'),
                        last_modified=item["LastModified"].strftime(stamp)[:-3] + "Z",
                        storage_class=item.get("StorageClass"),
                    )
                )
        return entries
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        items = [(item, False) for item in page.get("Versions", [])]
        items += [(item, True) for item in page.get("DeleteMarkers", [])]
        for item, marker in items:
            entries.append(
                Entry(
                    key=item["Key"],
                    size=None if marker else item["Size"],
                    etag=None if marker else item["ETag"].strip('"'),
                    last_modified=item["LastModified"].strftime(stamp)[:-3] + "Z",
                    storage_class=None if marker else item.get("StorageClass"),
                    version_id="" if item["VersionId"] == "null" else item["VersionId"],
                    is_latest=item["IsLatest"],
                    delete_marker=marker,
                )
            )
    return entries
