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

import errno
import fcntl
import hashlib
import io
import json
import os
import stat
import sys
import zlib
from collections.abc import Iterator
from typing import IO, Any

import msgspec

from lib.leaves.errors import BadInput, FatalError, UsageError, redact
from lib.leaves.records import (
    CheckRecord,
    DataRecord,
    ErrorRecord,
    Header,
    ObjectRecord,
    Record,
    Summary,
)

FLUSH_BYTES = 1 << 16
MAX_LINE_BYTES = 16 << 20
MAX_KEY_BYTES = 1024  # S3's limit; a line holding a longer key is longer than this
REPLAY_CHUNK = 1 << 20


class InputPosition(msgspec.Struct):
    """Where a reader stands: after `lines` lines and `offset` bytes."""

    lines: int = 0
    offset: int = 0
    digest: str = ""


def incomplete_input_note(reader: RecordReader) -> str | None:
    """Why a run that read all of its input still did not see all of it, or None.

    An input that ends without a complete summary was cut short (its writer was killed)
    or skipped something: a run over it holds less than its whole run would, so it must
    not end `complete: true` (DESIGN, "Completeness"), and its checkpoint stays open so
    that rerunning the pipeline finishes it."""
    summary = reader.summary
    if summary is not None and summary.complete:
        return None
    why = "no summary" if summary is None else "an incomplete summary"
    return (
        f"the input ended with {why} (its writer stopped early or skipped something): "
        "this run is incomplete; rerun the pipeline to finish it"
    )


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
        name: str = "the input",
    ) -> None:
        self._stream = stream
        self._decoder = decoder
        self._encode = msgspec.json.Encoder().encode
        self.name = redact(name)
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
        self._ended = False  # a terminal gives more after an end of input: read no further

    def position(self) -> InputPosition:
        return InputPosition(self.lines, self.offset, self._hash.copy().hexdigest())

    def mark(self) -> InputMark:
        """What `position()` tells, for a fraction of its cost when taken per record."""
        return InputMark(self.lines, self.offset, self._hash.copy())

    def read_header(self) -> Header | None:
        """Reads the first line if it is a header; call it once, before iterating."""
        line = self._readline()
        if not line:
            self._ended = True
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

    def _unreadable(self, exc: Exception) -> BadInput:
        """A failure to read the input (decompression, I/O): the stage stops at it, after
        finishing and recording the work in flight, like at a bad line (exit 2)."""
        why = str(exc) or type(exc).__name__
        return BadInput(self.lines + 1, f"cannot read {self.name}: {why}")

    def _readline(self) -> bytes:
        try:
            line = self._stream.readline(MAX_LINE_BYTES + 1)
        except Exception as exc:
            raise self._unreadable(exc) from None
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            raise BadInput(self.lines + 1, f"line longer than {MAX_LINE_BYTES} bytes")
        if line:
            self.lines += 1
            self.offset += len(line)
            self._hash.update(line)
        return line

    def _decode(self, line: bytes) -> Record | ErrorRecord:
        try:
            record = self._decoder.decode(line)
        except msgspec.DecodeError as exc:
            why = str(exc)
            if not line.endswith(b"\n"):
                why = f"the last line is truncated (no newline at its end): {why}"
            if line.startswith(b"\xef\xbb\xbf"):
                why = "starts with a UTF-8 byte order mark; remove it"
            return self._bad(line, why)
        flawed = self._flaw(record, line)
        return record if flawed is None else self._bad(line, flawed)

    def _flaw(self, record: Record, line: bytes) -> str | None:
        """Why a decoded line is still bad input, or None. Cheap for the usual line:
        written as a stage writes it (then no field in it is repeated), short enough
        that its keys fit S3 (a key's bytes all appear in the line) and no NUL escaped
        in it. (An empty key or an impossible size the decoder refuses itself.)"""
        encoded = self._encode(record)
        canonical = len(line) == len(encoded) + 1 and line.startswith(encoded)
        if canonical and len(line) <= MAX_KEY_BYTES and b"\\u0000" not in line:
            return None
        return flaw(record, line, repeats_possible=not canonical)

    def _bad(self, line: bytes, why: str) -> ErrorRecord:
        if not self._skip_bad_lines:
            raise BadInput(self.lines, why, line)
        text = line[:200].decode("utf-8", "replace").rstrip("\r\n")
        return ErrorRecord(stage=self._stage, line=self.lines, message=why, input=text)

    def __iter__(self) -> Iterator[DataRecord]:
        if self._pending is not None:
            line, self._pending = self._pending, None
            yield from self._accept(line)
        if self._ended:
            return
        # `_readline` and `_accept` inlined for the usual line: this loop runs per record.
        readline, decode, update = self._stream.readline, self._decoder.decode, self._hash.update
        check = self._flaw
        framing = (Header, Summary)
        while True:
            try:
                line = readline(MAX_LINE_BYTES + 1)
            except Exception as exc:
                raise self._unreadable(exc) from None
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
            flawed = check(record, line)
            if flawed is not None:
                yield from self._route(self._bad(line, flawed))
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
        """Positions the reader after `position`, reading what comes before it again to
        verify that it is what the checkpointed run consumed (a running hash).

        A file (whose header line the checkpoint pins) is read up to the offset in large
        chunks, about 2 s of CPU per GB with the hashing; a pipe is replayed line by line, as
        its header may differ. Bytes appended after the consumed part are accepted.
        """
        if position.lines == 0:
            return
        self._pending = None
        if self._seekable:
            self._read_through(position.offset)
        while self.lines < position.lines:
            if not self._readline():
                break
        if self.lines != position.lines or self._hash.hexdigest() != position.digest:
            raise UsageError(
                f"{self.name} differs from the input of the checkpointed run "
                "(edited, replaced or cut short)",
                hint="feed the same input again, or pass --restart to start over",
            )

    def _read_through(self, offset: int) -> None:
        remaining = offset - self.offset
        while remaining > 0:
            try:
                chunk = self._stream.read(min(remaining, REPLAY_CHUNK))
            except Exception as exc:
                raise self._unreadable(exc) from None
            if not chunk:
                return
            remaining -= len(chunk)
            self.offset += len(chunk)
            self.lines += chunk.count(b"\n")
            self._hash.update(chunk)


def flaw(record: Record, line: bytes, *, repeats_possible: bool = True) -> str | None:
    """Why a decoded record is bad input though it is JSON of the right shape: a field
    given twice (which value counts depends on the parser), or a key S3 cannot hold.
    Looking for repeated fields costs a second parse."""
    if repeats_possible and not _no_repeats_compactly(line):
        try:
            json.loads(line, object_pairs_hook=_unique_fields)
        except _RepeatedField as exc:
            return f"the field {exc.args[0]!r} appears twice in one record"
        except ValueError:
            pass  # msgspec accepted it; a stricter parser's quibble is not ours
    keys: list[str] = []
    if isinstance(record, ObjectRecord):
        keys.append(record.key)
    elif isinstance(record, CheckRecord):
        keys.append(record.key)
        keys += [nested.key for nested in (record.expected, record.actual) if nested is not None]
    for key in keys:
        why = key_flaw(key)
        if why is not None:
            return why
    return None


def key_flaw(key: str) -> str | None:
    """Why S3 cannot hold `key`, or None. NUL is valid UTF-8, but S3 refuses it."""
    if "\x00" in key:
        return "a key containing NUL (U+0000), which S3 refuses"
    size = len(key.encode("utf-8", "surrogatepass"))
    if size > MAX_KEY_BYTES:
        return f"a key of {size} bytes (S3 keys are 1 to 1024 bytes of UTF-8)"
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return "a key that is not valid UTF-8 (an unpaired surrogate)"
    return None


def _no_repeats_compactly(line: bytes) -> bool:
    """True if the line certainly repeats no field: compacted, it is the JSON of what it
    decodes to (which keeps one value per field). False also for lines whose strings use
    escapes that the encoder writes otherwise; `json` then decides, 10 times slower."""
    try:
        compact = msgspec.json.format(line, indent=-1)
        return msgspec.json.encode(msgspec.json.decode(compact)) == compact
    except msgspec.DecodeError:
        return False


class _RepeatedField(ValueError):
    pass


def _unique_fields(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    fields = dict(pairs)
    if len(fields) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise _RepeatedField(name)
            seen.add(name)
    return fields


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

    def release(self) -> None:
        """Closes a file output without writing more (which drops its lock)."""
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
    if is_stream(path):
        # /dev/null, a FIFO: written like stdout, nothing to truncate or fsync.
        raw = open(path, "wb", buffering=0)  # noqa: SIM115 - owned by the writer
        return _named(writer(raw, is_file=False, compression=compression), path)
    if resume_offset is None:
        raw = _open_locked(path, os.O_CREAT)
        raw.truncate(0)
        return _named(writer(raw, is_file=True, compression=compression), path)
    try:
        raw = _open_locked(path, 0)
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


def _open_locked(path: str, create: int) -> io.FileIO:
    """The output file opened for writing, not yet truncated, under an exclusive flock:
    another run writing the same file (with another checkpoint, or none) makes this one
    stop (exit 3) before it changes a byte."""
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | create, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise FatalError(
            f"output {path} is being written by another run",
            hint="two runs must not write one output file; wait for the other run to end",
        ) from None
    except OSError as exc:
        if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
            os.close(fd)
            raise
        # A file system without flock: write unguarded, as before.
    return open(fd, "r+b", buffering=0)


def is_stream(target: str) -> bool:
    """Whether output `target` is stdout, a FIFO or a device rather than a regular file:
    nothing a resumed run can truncate back to its last commit and continue."""
    if target == "-":
        return True
    path = target.removeprefix("file://")
    return os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode)


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
    """Opens `-`, a local path or a smart_open URL; returns (stream, seekable).

    Only a regular file is seekable: a FIFO or a process substitution (`<(...)`) is
    read like a pipe, and resumed by replaying it."""
    if source == "-":
        return sys.stdin.buffer, False
    plain_local = "://" not in source or source.startswith("file://")
    path = source.removeprefix("file://") if plain_local else source
    compressed = path.endswith((".gz", ".zst", ".bz2", ".xz"))
    if plain_local and not compressed:
        try:
            local = open(path, "rb")  # noqa: SIM115 - owned by the reader
        except OSError as exc:
            raise UsageError(f"cannot read input {path}: {exc.strerror}") from None
        return local, stat.S_ISREG(os.fstat(local.fileno()).st_mode)
    import smart_open

    zst = path.endswith(".zst")
    try:
        # .zst is read here with zstandard (smart_open would need another package).
        mode = "disable" if zst else "infer_from_extension"
        stream = smart_open.open(path, "rb", compression=mode)
    except ImportError as exc:
        raise UsageError(
            f"cannot read input {redact(path)}: no decompressor for {os.path.splitext(path)[1]} "
            f"is installed ({exc})"
        ) from None
    except Exception as exc:
        raise UsageError(f"cannot read input {redact(path)}: {exc}") from None
    return (_zstd_reader(stream) if zst else stream), False


def refuse_same_file(stream: IO[bytes], output: str) -> None:
    """Refuses (exit 2) an output that is the input file itself, under any name (a
    symlink, a hard link): opening it for writing would truncate the input unread."""
    try:
        read = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return  # not a local file (a URL): it cannot be the output
    try:
        written = os.fstat(1) if output == "-" else os.stat(output.removeprefix("file://"))
    except OSError:
        return  # the output does not exist yet
    if stat.S_ISREG(read.st_mode) and (read.st_dev, read.st_ino) == (
        written.st_dev,
        written.st_ino,
    ):
        shown = "stdout" if output == "-" else redact(output)
        raise UsageError(
            f"the output {shown} is the input file; writing it would destroy the input",
            hint="write the output to another file",
        )


def _zstd_reader(stream: IO[bytes]) -> IO[bytes]:
    """A buffered reader of a zstd stream, across all its frames (one per commit)."""
    import zstandard

    frames = zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True)
    return io.BufferedReader(frames, buffer_size=FLUSH_BYTES)
