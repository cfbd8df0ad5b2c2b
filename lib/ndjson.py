"""Newline-delimited JSON record streams: bounded memory in, buffered and syncable out.

The reader works line by line on a binary stream, so memory is bounded by the
longest line, and reports bad input as `line N: why`. It keeps the byte offset,
the line number and a running hash of what it consumed, which is what a
checkpoint needs to resume the input (seek for files, verified replay for pipes).

The writer encodes into one reused buffer and writes it out in large chunks;
`sync()` makes everything written so far durable and returns the offset a
checkpoint may record. Compressed output (`.gz`, `.zst`) is written as one gzip
member or zstd frame per sync, so the file is a valid stream at every committed
offset and can be truncated back to it on resume; readers read across members
and frames.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import sys
import zlib
from collections.abc import Iterator
from typing import IO, Any

import msgspec

from lib.errors import BadInput, FatalError, UsageError
from lib.records import DataRecord, ErrorRecord, Header, Record, Summary

FLUSH_BYTES = 1 << 16
MAX_LINE_BYTES = 16 << 20


class InputPosition(msgspec.Struct):
    """Where a reader stands: after `lines` lines and `offset` bytes."""

    lines: int = 0
    offset: int = 0
    digest: str = ""


def resume_input(reader: RecordReader, cursor: dict[str, Any]) -> InputPosition | None:
    """Positions `reader` where a checkpointed cursor left it; the position, if any."""
    saved = cursor.get("input")
    if saved is None:
        return None
    position = msgspec.convert(saved, InputPosition)
    reader.resume(position)
    return position


class InputMark:
    """A reader's position taken cheaply for every record (`RecordReader.mark`); its digest
    is computed only when a checkpoint asks for it."""

    __slots__ = ("_hash", "lines", "offset")

    def __init__(self, lines: int, offset: int, running_hash: Any) -> None:
        self.lines = lines
        self.offset = offset
        self._hash = running_hash

    def position(self) -> InputPosition:
        return InputPosition(self.lines, self.offset, self._hash.hexdigest())


def input_cursor(position: InputPosition | InputMark | None) -> dict[str, Any]:
    """The part of a cursor that says where the input stands."""
    if isinstance(position, InputMark):
        position = position.position()
    return {} if position is None else {"input": msgspec.to_builtins(position)}


def _blake() -> Any:
    return hashlib.blake2b(digest_size=16)


class RecordReader:
    """Decodes records from a binary stream, one line at a time.

    The first line may be a header (kept as `.header`); a summary line is kept
    as `.summary` and not yielded. Bad lines raise BadInput, or with
    `skip_bad_lines` become ErrorRecords.
    """

    def __init__(
        self,
        stream: IO[bytes],
        decoder: msgspec.json.Decoder[Record],
        *,
        stage: str = "",
        skip_bad_lines: bool = False,
        seekable: bool = False,
    ) -> None:
        self._stream = stream
        self._decoder = decoder
        self._stage = stage
        self._skip_bad_lines = skip_bad_lines
        self._seekable = seekable
        self._hash = _blake()
        self.lines = 0
        self.offset = 0
        self.header: Header | None = None
        self.summary: Summary | None = None
        self.header_line = b""
        self._pending: bytes | None = None

    def position(self) -> InputPosition:
        return InputPosition(self.lines, self.offset, self._hash.copy().hexdigest())

    def mark(self) -> InputMark:
        """What `position()` tells, for a fraction of its cost when taken per record."""
        return InputMark(self.lines, self.offset, self._hash.copy())

    def read_header(self) -> Header | None:
        """Reads the first line if it is a header; call it once, before iterating."""
        line = self._readline()
        if not line:
            return None
        record = self._decode(line)
        if isinstance(record, Header):
            # The header is not hashed: it carries the upstream's start time, which
            # differs when a pipeline is rerun to resume, while the records do not.
            self.header = record
            self.header_line = line
            self._hash = _blake()
        else:
            self._pending = line
        return self.header

    def _readline(self) -> bytes:
        line = self._stream.readline(MAX_LINE_BYTES + 1)
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            raise BadInput(self.lines + 1, f"line longer than {MAX_LINE_BYTES} bytes")
        if line:
            self.lines += 1
            self.offset += len(line)
            self._hash.update(line)
        return line

    def _decode(self, line: bytes) -> Record | ErrorRecord:
        try:
            return self._decoder.decode(line)
        except msgspec.DecodeError as exc:
            why = str(exc)
            if not line.endswith(b"\n"):
                why = f"the last line is truncated (no newline at its end): {why}"
            if line.startswith(b"\xef\xbb\xbf"):
                why = "starts with a UTF-8 byte order mark; remove it"
            if not self._skip_bad_lines:
                raise BadInput(self.lines, why, line) from None
            text = line[:200].decode("utf-8", "replace").rstrip("\r\n")
            return ErrorRecord(stage=self._stage, line=self.lines, message=why, input=text)

    def __iter__(self) -> Iterator[DataRecord]:
        if self._pending is not None:
            line, self._pending = self._pending, None
            yield from self._accept(line)
        # `_readline` and `_accept` inlined for the usual line: this loop runs per record.
        readline, decode, update = self._stream.readline, self._decoder.decode, self._hash.update
        framing = (Header, Summary)
        while True:
            line = readline(MAX_LINE_BYTES + 1)
            if not line:
                return
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                raise BadInput(self.lines + 1, f"line longer than {MAX_LINE_BYTES} bytes")
            self.lines += 1
            self.offset += len(line)
            update(line)
            try:
                record = decode(line)
            except msgspec.DecodeError:
                yield from self._accept(line)
                continue
            if self.summary is None and not isinstance(record, framing):
                yield record
            else:
                yield from self._route(record)

    def _accept(self, line: bytes) -> Iterator[DataRecord]:
        if not line.strip():
            return
        yield from self._route(self._decode(line))

    def _route(self, record: Record | ErrorRecord) -> Iterator[DataRecord]:
        if isinstance(record, Summary):
            self.summary = record
        elif isinstance(record, Header):
            if not self._skip_bad_lines:
                raise BadInput(self.lines, "a header in the middle of the input")
        else:
            if self.summary is not None and not self._skip_bad_lines:
                raise BadInput(self.lines, "a record after the summary line")
            yield record

    def resume(self, position: InputPosition) -> None:
        """Positions the reader after `position`, verifying the replayed bytes."""
        if position.lines == 0:
            return
        if self._seekable:
            self._stream.seek(position.offset)
            self.lines, self.offset = position.lines, position.offset
            self._hash = _blake()
            self._hash.update(b"resumed-by-seek")
            self._pending = None
            return
        while self.lines < position.lines:
            if not self._readline():
                break
        self._pending = None
        if self.lines != position.lines or self._hash.hexdigest() != position.digest:
            raise UsageError(
                "the input differs from the input of the checkpointed run",
                hint="feed the same input again, or pass --restart to start over",
            )


class OutputError(FatalError):
    """Writing the output failed (disk full, file too large, I/O error): exit 3.

    The writer refuses to sync after that, so no checkpoint can claim records whose
    bytes never reached the file; the last good checkpoint stays, and a rerun
    truncates the output back to it.
    """


def compression_of(path: str) -> str | None:
    """How a record file is compressed, by its extension: "gz", "zst" or None."""
    if path.endswith(".gz"):
        return "gz"
    return "zst" if path.endswith(".zst") else None


class _Frames:
    """Compressed output as independent frames (gzip members, zstd frames): `end()`
    closes the current one, so the bytes written so far decompress on their own."""

    def __init__(self, compression: str) -> None:
        self.compression = compression
        self.dirty = False
        self._start()

    def _start(self) -> None:
        if self.compression == "gz":
            self._gzip = zlib.compressobj(6, zlib.DEFLATED, 31)
        else:
            import zstandard

            self._zstd = zstandard.ZstdCompressor(level=3).compressobj()

    def compress(self, data: bytes) -> bytes:
        self.dirty = True
        if self.compression == "gz":
            return self._gzip.compress(data)
        return self._zstd.compress(data)

    def end(self) -> bytes:
        if self.compression == "gz":
            tail = self._gzip.flush(zlib.Z_FINISH)
        else:
            import zstandard

            tail = self._zstd.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)
        self.dirty = False
        self._start()
        return tail


def decompress_head(head: bytes, compression: str | None, limit: int) -> bytes:
    """Up to `limit` bytes of what the start of a compressed file holds."""
    if compression == "gz":
        return zlib.decompressobj(31).decompress(head, limit)
    if compression == "zst":
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress(head)[:limit]
    return head


class RecordWriter:
    """Buffers encoded records and writes them to a file, a pipe or stdout."""

    def __init__(
        self,
        raw: IO[bytes],
        *,
        is_file: bool,
        offset: int = 0,
        compression: str | None = None,
        name: str = "stdout",
    ):
        self._raw = raw
        self.name = name
        self._failed: OutputError | None = None
        self.is_file = is_file
        self._buffer = bytearray()
        self._encoder = msgspec.json.Encoder()
        self.offset = offset
        self._frames = _Frames(compression) if compression else None

    def write(self, record: Record) -> None:
        buffer = self._buffer
        self._encoder.encode_into(record, buffer, len(buffer))
        buffer.append(10)
        if len(buffer) >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        data = bytes(self._buffer)
        self._buffer.clear()
        if self._frames is not None:
            data = self._frames.compress(data)
        self._write_all(data)
        if not self.is_file:
            self._raw.flush()

    def _write_all(self, data: bytes) -> None:
        if self._failed is not None:
            raise self._failed
        view = memoryview(data)
        try:
            while view:
                written = self._raw.write(view)
                if written is None:
                    written = 0
                view = view[written:]
        except BrokenPipeError:
            raise
        except OSError as exc:
            self._failed = OutputError(f"cannot write output {self.name}: {exc.strerror or exc}")
            raise self._failed from None
        self.offset += len(data)

    def sync(self) -> int:
        """Makes all records written so far durable; returns the committed offset."""
        self.flush()
        if self._frames is not None and self._frames.dirty:
            self._write_all(self._frames.end())
        if self._failed is not None:
            raise self._failed
        if self.is_file:
            self._raw.flush()
            os.fsync(self._raw.fileno())
        return self.offset

    def close(self) -> None:
        self.sync()
        if self.is_file:
            self._raw.close()


def open_output(
    target: str, *, resume_offset: int | None, writer: type[RecordWriter] | None = None
) -> RecordWriter:
    """Opens `-` (stdout) or a local path; on resume truncates the file to the offset.

    `writer` is the RecordWriter class that encodes the records (default: NDJSON).
    """
    writer = writer or RecordWriter
    compression = compression_of(target)
    if target == "-":
        return writer(sys.stdout.buffer, is_file=False)
    if "://" in target and not target.startswith("file://"):
        raise UsageError(f"output must be a local file or -, not {target}")
    path = target.removeprefix("file://")
    if os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode):
        # /dev/null, a FIFO: written like stdout, nothing to truncate or fsync.
        raw = open(path, "wb", buffering=0)  # noqa: SIM115 - owned by the writer
        return _named(writer(raw, is_file=False, compression=compression), path)
    if resume_offset is None:
        raw = open(path, "wb", buffering=0)  # noqa: SIM115 - owned by the writer
        return _named(writer(raw, is_file=True, compression=compression), path)
    try:
        raw = open(path, "r+b", buffering=0)  # noqa: SIM115 - owned by the writer
    except FileNotFoundError:
        raise UsageError(
            f"the checkpoint expects output {path} but it does not exist",
            hint="pass --restart to start over",
        ) from None
    size = raw.seek(0, io.SEEK_END)
    if size < resume_offset:
        raw.close()
        raise UsageError(
            f"output {path} is shorter ({size} bytes) than the checkpoint says ({resume_offset})",
            hint="pass --restart to start over",
        )
    raw.truncate(resume_offset)
    raw.seek(resume_offset)
    return _named(writer(raw, is_file=True, offset=resume_offset, compression=compression), path)


def _named(writer: RecordWriter, path: str) -> RecordWriter:
    """The writer, knowing its file's name for error messages."""
    writer.name = path
    return writer


def peek_summary(path: str) -> Summary | None:
    """The summary at the end of a local NDJSON file, if it has one (for an ETA)."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, io.SEEK_END)
            handle.seek(max(0, size - 65536))
            lines = handle.read().rstrip(b"\n").rsplit(b"\n", 1)
    except OSError:
        return None
    try:
        return msgspec.json.decode(lines[-1], type=Summary)
    except msgspec.DecodeError:
        return None


def open_input(source: str) -> tuple[IO[bytes], bool]:
    """Opens `-`, a local path or a smart_open URL; returns (stream, seekable)."""
    if source == "-":
        return sys.stdin.buffer, False
    plain_local = "://" not in source or source.startswith("file://")
    path = source.removeprefix("file://") if plain_local else source
    compressed = path.endswith((".gz", ".zst", ".bz2", ".xz"))
    if plain_local and not compressed:
        try:
            return open(path, "rb"), True
        except OSError as exc:
            raise UsageError(f"cannot read input {path}: {exc.strerror}") from None
    import smart_open

    zst = path.endswith(".zst")
    try:
        # .zst is read here with zstandard (smart_open would need another package).
        mode = "disable" if zst else "infer_from_extension"
        stream = smart_open.open(path, "rb", compression=mode)
    except OSError as exc:
        raise UsageError(f"cannot read input {path}: {exc}") from None
    return (_zstd_reader(stream) if zst else stream), False


def _zstd_reader(stream: IO[bytes]) -> IO[bytes]:
    """A buffered reader of a zstd stream, across all its frames (one per commit)."""
    import zstandard

    frames = zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True)
    return io.BufferedReader(frames, buffer_size=FLUSH_BYTES)
