"""Published manifests: one complete listing shared by many readers.

`s3-manifest --publish URL` copies its finished output, as gzip NDJSON, to URL (an
S3 object or a local path) only when the listing completed, and atomically: an S3
object becomes visible only when its upload completes, and a local file is written
beside its destination and renamed over it. A reader therefore sees the previous
complete manifest or the new one, never a partial one.

`s3-manifest --from-published URL --max-age AGE` emits the published records
instead of listing when the copy exists, ends with a complete summary, lists the
same location the same way and started listing less than AGE ago; otherwise it
lists live, and says on stderr which path it took and why. The copy is read twice:
once to verify it is whole, then to emit it, so nothing is emitted from a copy
that turns out to be cut short.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

import msgspec

from lib.io.checkpoint import CheckpointState
from lib.io.durable import fsync_directory
from lib.io.ndjson import RecordReader
from lib.leaves.errors import FatalError, UsageError
from lib.leaves.flush import Flush
from lib.leaves.location import Location, parse_location
from lib.leaves.records import (
    DataRecord,
    Header,
    ObjectRecord,
    Summary,
    header_as_dict,
    new_decoder,
)
from lib.pipelines.coverage import declared
from lib.pipelines.manifest import count_listed, key_filter

STAGE = "s3-manifest"
_AGE = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(text: str) -> float:
    """Seconds in `90s`, `30m`, `24h`, `7d` or a plain number of seconds."""
    match = _AGE.fullmatch(text.strip())
    if not match:
        raise UsageError(f"--max-age {text!r}: give a number with s, m, h or d, e.g. 24h")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def check_url(url: str, option: str) -> str:
    """A published manifest's URL: s3://bucket/key.gz or a local path ending in .gz."""
    if not url.endswith(".gz"):
        raise UsageError(f"{option} {url}: a published manifest is gzip NDJSON; name it ….gz")
    if url.startswith("s3://"):
        where = parse_location(url)
        if not where.prefix:
            raise UsageError(f"{option} {url}: give the object key, not only the bucket")
    elif "://" in url and not url.startswith("file://"):
        raise UsageError(f"{option} {url}: s3://bucket/key.gz or a local path")
    return url


def check_options(
    publish_to: str | None,
    from_published: str | None,
    output: str,
    output_format: str,
    *,
    filtered: bool,
) -> bool:
    """Checks --publish and --from-published; True when either is given."""
    if publish_to:
        check_url(publish_to, "--publish")
        if filtered:
            # Readers filter the whole listing themselves (--include/--exclude apply
            # to the published records), so a published manifest is never a subset.
            raise UsageError("--publish publishes whole listings; drop --include/--exclude")
        if output == "-" or output_format != "ndjson":
            raise UsageError(
                "--publish publishes the finished -o FILE: give -o FILE and NDJSON output",
            )
    if from_published:
        check_url(from_published, "--from-published")
    return bool(publish_to or from_published)


def _open(url: str, client: Any) -> IO[bytes]:
    import smart_open

    params = {"client": client} if url.startswith("s3://") else {}
    stream: IO[bytes] = smart_open.open(url, "rb", transport_params=params)
    return stream


@dataclass
class Scan:
    """What a full read of a manifest found: its framing and first object."""

    header: Header | None
    summary: Summary | None
    first: ObjectRecord | None


def scan(stream: IO[bytes]) -> Scan:
    """Reads a whole manifest; bad lines make it unusable (BadInput propagates)."""
    reader = RecordReader(stream, new_decoder(), stage=STAGE)
    header = reader.read_header()
    first = None
    for record in reader:
        if first is None and isinstance(record, ObjectRecord):
            first = record
    return Scan(header, reader.summary, first)


# --- publishing ----------------------------------------------------------------------


def publish(output: str, url: str, client: Any) -> str:
    """Publishes the finished output file at `url`; returns a line saying what happened."""
    gzipped = output.endswith(".gz")
    with _open_local(output) as stream:
        found = scan(stream)
    if found.summary is None or not found.summary.complete:
        return f"not published to {url}: the listing in {output} is not complete"
    header = found.header
    if header is not None and header.upstream and header.upstream.get("published"):
        return f"not published to {url}: {output} was read from a published copy, not listed"
    started = header.started if header else None
    if started and _published_started(url, client) == started:
        return f"{url} already holds this listing (started {started})"
    local = not url.startswith("s3://")
    directory = os.path.dirname(os.path.abspath(url.removeprefix("file://") if local else output))
    with tempfile.NamedTemporaryFile(dir=directory, prefix=".publish-", delete=False) as temp:
        try:
            if gzipped:
                with open(output, "rb") as source:
                    shutil.copyfileobj(source, temp, 1 << 20)
            else:
                _gzip_file(output, temp)
            temp.flush()
            os.fsync(temp.fileno())
            temp.close()
            if not local:
                # boto3's managed upload (multipart when large), called as a function:
                # make_client builds a bare botocore client without boto3's methods.
                from boto3.s3.inject import upload_file

                where = parse_location(url)
                upload_file(client, temp.name, where.bucket, where.prefix,
                            ExtraArgs={"ContentType": "application/x-ndjson"})  # fmt: skip
            else:
                path = url.removeprefix("file://")
                os.replace(temp.name, path)
                fsync_directory(os.path.dirname(os.path.abspath(path)))
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp.name)
    return f"published {url} (listing started {started})"


def _open_local(path: str) -> IO[bytes]:
    import gzip

    if path.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]  # a GzipFile reads bytes
    return open(path, "rb")


def _gzip_file(path: str, target: IO[bytes]) -> None:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    with open(path, "rb") as source:
        while chunk := source.read(1 << 20):
            target.write(compressor.compress(chunk))
    target.write(compressor.flush())


def _published_started(url: str, client: Any) -> str | None:
    """The `started` of the published copy's header, if there is a copy."""
    try:
        with _open(url, client) as stream:
            header = RecordReader(stream, new_decoder(), stage=STAGE).read_header()
    except Exception:
        return None
    return header.started if header else None


# --- reading a published copy --------------------------------------------------------


@dataclass
class PublishedCopy:
    """A published manifest judged usable: where it is and the header it starts with."""

    url: str
    header: Header

    def upstream(self) -> dict[str, Any]:
        """The header of this run's output names the copy it came from."""
        return {**header_as_dict(self.header), "published": self.url}


def choose(
    url: str,
    location: Location,
    *,
    versions: bool,
    md5: bool,
    max_age_s: float,
    client: Any,
    now: datetime | None = None,
) -> tuple[PublishedCopy | None, str]:
    """The published copy to read, or None to list live; and a line saying why."""
    try:
        with _open(url, client) as stream:
            found = scan(stream)
    except Exception as exc:  # missing, unreadable, not NDJSON: list live either way
        reason = "missing" if _is_missing(exc) else f"unreadable ({_short(exc)})"
        return None, f"listing live: the published manifest {url} is {reason}"
    header, summary = found.header, found.summary
    if header is None or summary is None or not summary.complete or header.stage != STAGE:
        return None, f"listing live: the published manifest {url} is incomplete"
    if header.source != str(location):
        return None, (
            f"listing live: the published manifest {url} lists another location "
            f"({header.source}, not {location})"
        )
    first = found.first
    if first is not None and (
        (first.version_id is not None) != versions or (md5 and first.etag is None)
    ):
        return None, f"listing live: the published manifest {url} was listed with other options"
    age = _age_s(header.started, now or datetime.now(UTC))
    if age is None or age > max_age_s:
        shown = "of unknown age" if age is None else f"{age / 3600:.1f}h old"
        return None, f"listing live: the published manifest {url} is stale ({shown})"
    return PublishedCopy(url, header), (
        f"reading the published manifest {url} (listing started {header.started}, "
        f"{age / 3600:.1f}h old) instead of listing"
    )


def _age_s(started: str | None, now: datetime) -> float | None:
    if not started:
        return None
    try:
        stamp = datetime.fromisoformat(started.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (now - stamp).total_seconds()


def _is_missing(exc: Exception) -> bool:
    if isinstance(exc, FileNotFoundError):
        return True
    response = getattr(exc, "response", None) or getattr(exc.__cause__, "response", None)
    code = str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""
    return code in ("NoSuchKey", "404", "NotFound") or "NoSuchKey" in str(exc)


def _short(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]


class PublishedPipeline:
    """Emits a published copy's records; `cursor()` counts the records read."""

    classify = staticmethod(count_listed)

    def __init__(
        self,
        copy: PublishedCopy,
        *,
        include: Sequence[str],
        exclude: Sequence[str],
        client: Any,
        cursor: dict[str, Any] | None = None,
    ) -> None:
        self.copy = copy
        self.client = client
        self.complete = False
        prefix = parse_location(copy.header.source or "").prefix
        self._keep = key_filter(prefix, include, exclude)
        self.coverage = declared(prefix, include, exclude)
        self._read = int((cursor or {}).get("published_records", 0))
        self.notes: list[str] = []

    def cursor(self) -> dict[str, Any]:
        return {"published_started": self.copy.header.started, "published_records": self._read}

    def __iter__(self) -> Iterator[DataRecord | Flush]:
        with _open(self.copy.url, self.client) as stream:
            reader = RecordReader(stream, new_decoder(), stage=STAGE)
            header = reader.read_header()
            if header is None or header.started != self.copy.header.started:
                raise FatalError(
                    f"the published manifest {self.copy.url} changed while it was being read",
                    hint="rerun with --restart",
                )
            skip = self._read
            for record in reader:
                if skip:
                    skip -= 1
                    continue
                self._read += 1
                keep = self._keep
                if keep is None or not isinstance(record, ObjectRecord) or keep(record.key):
                    yield record
            if reader.summary is None or not reader.summary.complete:
                raise FatalError(f"the published manifest {self.copy.url} ended early")
        self.complete = True


def plan(
    url: str,
    location: Location,
    *,
    versions: bool,
    md5: bool,
    max_age_s: float,
    client: Any,
    checkpoint: str | None,
) -> tuple[PublishedCopy | None, str | None]:
    """Where this run's records come from: the published copy, or None for a live listing.

    A checkpointed run keeps the path it took; a completed one decides nothing.
    """
    saved = _saved_state(checkpoint)
    if saved is not None and saved.complete:
        return None, None
    if saved is not None and saved.cursor:
        copy = resumed_copy(url, saved.cursor, client)
        if copy is not None:
            return copy, f"resuming the read of the published manifest {url}"
        return None, "resuming the live listing of the checkpointed run"
    return choose(url, location, versions=versions, md5=md5, max_age_s=max_age_s, client=client)


def _saved_state(checkpoint: str | None) -> CheckpointState | None:
    if checkpoint is None:
        return None
    try:
        with open(checkpoint, "rb") as handle:
            return msgspec.json.decode(handle.read(), type=CheckpointState)
    except (OSError, msgspec.DecodeError):
        return None  # none yet, or unreadable: the runner says which


def resumed_copy(url: str, cursor: dict[str, Any], client: Any) -> PublishedCopy | None:
    """The published copy a checkpointed run was reading, if it was reading one."""
    started = cursor.get("published_started")
    if started is None:
        return None
    with _open(url, client) as stream:
        header = RecordReader(stream, new_decoder(), stage=STAGE).read_header()
    if header is None or header.started != started:
        raise UsageError(
            f"the checkpoint was reading the published manifest {url} of {started}, "
            "which has been replaced",
            hint="pass --restart to start over",
        )
    return PublishedCopy(url, header)
