"""NDJSON reader and writer: line numbers for bad input, resumable positions, gzip members
and zstd frames."""

import io
import zlib
from pathlib import Path
from typing import Any

import msgspec
import pytest

from lib.io.ndjson import InputPosition, RecordReader, input_cursor, open_input, open_output
from lib.leaves.errors import BadInput, FatalError, UsageError
from lib.leaves.records import ErrorRecord, Header, ObjectRecord, Summary, new_decoder

HEADER = b'{"type":"header","stage":"s3-manifest","source":"s3://b/"}\n'
SUMMARY = b'{"type":"summary","stage":"s3-manifest","complete":true}\n'


def obj(key: str) -> bytes:
    return b'{"type":"object","bucket":"b","key":"%s","size":1}\n' % key.encode()


def reader(data: bytes, **options: bool) -> RecordReader:
    return RecordReader(io.BytesIO(data), new_decoder(), stage="s3-check", **options)


def test_reads_header_records_and_summary() -> None:
    source = reader(HEADER + obj("a") + obj("b") + SUMMARY)
    assert source.read_header() == Header(stage="s3-manifest", source="s3://b/")
    assert [r.key for r in source if isinstance(r, ObjectRecord)] == ["a", "b"]
    assert source.summary == Summary(stage="s3-manifest", complete=True)


def test_input_without_header_is_read_from_the_first_line() -> None:
    source = reader(obj("a") + obj("b"))
    assert source.read_header() is None
    assert [r.key for r in source if isinstance(r, ObjectRecord)] == ["a", "b"]
    assert source.summary is None


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (b"not json\n", "JSON"),
        (b"[1, 2]\n", "Expected `object`"),
        (b'{"bucket":"b","key":"k"}\n', "type"),
        (b'{"type":"object","bucket":"b","key":"k","size":"big"}\n', "size"),
        (b'{"type":"object","bucket":"b"}\n', "key"),
        (b'{"type":"object","bucket":"b","ke', "truncated"),
        (b'{"type":"object","bucket":"b","key":""}\n', "length >= 1"),
        (b'{"type": "object", "bucket": "b", "key": ""}\n', "length >= 1"),
        (b'{"type":"object","bucket":"b","key":"a\\u0000"}\n', "NUL"),
        (b'{"type":"object","bucket":"b","key":"%s"}\n' % (b"k" * 1025), "1025 bytes"),
        (b'{"type":"object","bucket":"b","key":"a","key":"b"}\n', "'key' appears twice"),
        (b'{"type":"object","bucket":"b","key":"a","size":-1}\n', ">= 0"),
        (b'{"type":"object","bucket":"b","key":"a","size":5497558138881}\n', "<= 5497558138880"),
        (
            b'{"type":"check","bucket":"b","key":"a","status":"missing","expected":%s}\n'
            % obj("")[:-1],
            "length >= 1",
        ),
    ],
)
def test_bad_line_names_its_number(bad: bytes, why: str) -> None:
    source = reader(HEADER + obj("a") + bad + (obj("c") if bad.endswith(b"\n") else b""))
    source.read_header()
    seen = []
    with pytest.raises(BadInput) as caught:
        seen.extend(source)
    assert caught.value.line == 3
    assert caught.value.message.startswith("line 3: ")
    assert why.lower() in caught.value.message.lower()
    assert [r.key for r in seen if isinstance(r, ObjectRecord)] == ["a"]


def test_the_longest_key_and_a_stage_s_own_lines_are_accepted() -> None:
    longest = ObjectRecord(bucket="b", key="\U0001f600" * 256, size=5 << 40)
    data = msgspec.json.encode(longest) + b"\n" + obj("a")
    assert [r.key for r in reader(data) if isinstance(r, ObjectRecord)] == [longest.key, "a"]


class FailingStream(io.BytesIO):
    """Gives `good` line by line, then fails as a truncated gzip stream does."""

    def readline(self, size: int | None = -1) -> bytes:
        line = super().readline(size)
        if not line:
            raise EOFError("Compressed file ended before the end-of-stream marker was reached")
        return line


def test_a_read_failure_is_bad_input_at_the_line_reached() -> None:
    source = RecordReader(FailingStream(HEADER + obj("a")), new_decoder(), name="input x.gz")
    source.read_header()
    seen = []
    with pytest.raises(BadInput, match=r"^line 3: cannot read input x.gz: Compressed file"):
        seen.extend(source)
    assert [r.key for r in seen if isinstance(r, ObjectRecord)] == ["a"]


def test_byte_order_mark_gets_a_clear_message() -> None:
    with pytest.raises(BadInput, match=r"line 1: .*byte order mark"):
        reader(b"\xef\xbb\xbf" + HEADER).read_header()


def test_skip_bad_lines_turns_them_into_error_records() -> None:
    source = reader(HEADER + obj("a") + b"garbage\n" + obj("c"), skip_bad_lines=True)
    source.read_header()
    records = list(source)
    assert isinstance(records[1], ErrorRecord)
    assert (records[1].line, records[1].input) == (3, "garbage")
    assert [r.key for r in records if isinstance(r, ObjectRecord)] == ["a", "c"]


def test_record_after_summary_is_bad_input() -> None:
    source = reader(HEADER + SUMMARY + obj("late"))
    source.read_header()
    with pytest.raises(BadInput, match="line 3: a record after the summary"):
        list(source)


def test_blank_lines_are_skipped_but_counted() -> None:
    source = reader(HEADER + b"\n" + obj("a") + b"   \n" + b"nope\n")
    source.read_header()
    with pytest.raises(BadInput, match="line 5"):
        list(source)


def test_a_mark_is_the_position_it_was_taken_at() -> None:
    source = reader(HEADER + obj("a") + b"\n" + obj("b") + obj("c"))
    source.read_header()
    marks, positions = [], []
    for _ in source:
        marks.append(source.mark())
        positions.append(source.position())
    assert [mark.position() for mark in marks] == positions
    assert [p.lines for p in positions] == [2, 4, 5]
    assert len({p.digest for p in positions}) == 3
    assert input_cursor(marks[1]) == input_cursor(positions[1])


def consume(source: RecordReader, count: int) -> InputPosition:
    iterator = iter(source)
    for _ in range(count):
        next(iterator)
    return source.position()


def test_resume_by_replay_verifies_the_input() -> None:
    data = HEADER + b"".join(obj(str(i)) for i in range(10))
    first = reader(data)
    first.read_header()
    position = consume(first, 4)
    assert position.lines == 5 and position.offset == len(HEADER) + sum(
        len(obj(str(i))) for i in range(4)
    )
    again = reader(data)
    again.read_header()
    again.resume(position)
    assert [r.key for r in again if isinstance(r, ObjectRecord)] == [str(i) for i in range(4, 10)]

    other = reader(HEADER + obj("x") + b"".join(obj(str(i)) for i in range(1, 10)))
    other.read_header()
    with pytest.raises(UsageError, match="differs"):
        other.resume(position)


def test_a_new_header_does_not_stop_a_replayed_pipe_from_resuming() -> None:
    data = b"".join(obj(str(i)) for i in range(10))
    first = reader(HEADER + data)
    first.read_header()
    position = consume(first, 4)
    rerun_header = HEADER.replace(b"s3://b/", b"s3://b/ ")  # e.g. another start time
    again = reader(rerun_header + data)
    again.read_header()
    again.resume(position)
    assert [r.key for r in again if isinstance(r, ObjectRecord)] == [str(i) for i in range(4, 10)]


def test_resume_of_a_file_continues_at_the_offset_after_verifying_what_it_consumed() -> None:
    data = HEADER + b"".join(obj(str(i)) for i in range(10))
    first = reader(data)
    first.read_header()
    position = consume(first, 7)
    grown = reader(data + obj("10"), seekable=True)  # appended to after the consumed part: accepted
    grown.read_header()
    grown.resume(position)
    assert [r.key for r in grown if isinstance(r, ObjectRecord)] == [*"789", "10"]
    assert grown.lines == 12
    edited = reader(data.replace(b'"2"', b'"x"'), seekable=True)
    edited.read_header()
    with pytest.raises(UsageError, match="differs from the input"):
        edited.resume(position)


def test_writer_truncates_back_to_the_committed_offset(tmp_path: Path) -> None:
    target = tmp_path / "out.ndjson"
    writer = open_output(str(target), resume_offset=None)
    writer.write(ObjectRecord(bucket="b", key="a"))
    committed = writer.sync()
    writer.write(ObjectRecord(bucket="b", key="lost"))
    writer.flush()
    assert b"lost" in target.read_bytes()
    writer.release()  # the crashed run's process is gone, and its output lock with it
    resumed = open_output(str(target), resume_offset=committed)
    resumed.write(ObjectRecord(bucket="b", key="b"))
    resumed.close()
    keys = [new_decoder().decode(line).key for line in target.read_bytes().splitlines()]
    assert keys == ["a", "b"]


def test_writer_refuses_an_output_shorter_than_the_checkpoint(tmp_path: Path) -> None:
    target = tmp_path / "out.ndjson"
    target.write_bytes(b"short\n")
    with pytest.raises(UsageError, match="shorter"):
        open_output(str(target), resume_offset=100)


def frames(data: bytes, suffix: str) -> list[bytes]:
    """What each gzip member or zstd frame of `data` holds; each must decompress alone."""
    import zstandard

    found = []
    while data:
        unpacker: Any = (
            zlib.decompressobj(31)
            if suffix == ".gz"
            else zstandard.ZstdDecompressor().decompressobj()
        )
        found.append(unpacker.decompress(data))
        data = unpacker.unused_data
    return found


@pytest.mark.parametrize("suffix", [".gz", ".zst"])
def test_compressed_output_is_one_frame_per_commit_and_resumes(tmp_path: Path, suffix: str) -> None:
    target = tmp_path / f"out.ndjson{suffix}"
    writer = open_output(str(target), resume_offset=None)
    writer.write(ObjectRecord(bucket="b", key="a"))
    committed = writer.sync()
    writer.write(ObjectRecord(bucket="b", key="lost"))
    writer.sync()
    assert len(frames(target.read_bytes(), suffix)) == 2
    writer.release()
    resumed = open_output(str(target), resume_offset=committed)
    resumed.write(ObjectRecord(bucket="b", key="b"))
    resumed.close()
    lines = b"".join(frames(target.read_bytes(), suffix)).splitlines()
    assert [new_decoder().decode(line).key for line in lines] == ["a", "b"]


def test_an_output_file_another_writer_holds_is_refused_untouched(tmp_path: Path) -> None:
    target = tmp_path / "out.ndjson"
    writer = open_output(str(target), resume_offset=None)
    writer.write(ObjectRecord(bucket="b", key="a"))
    writer.sync()
    before = target.read_bytes()
    for resume_offset in (None, len(before)):
        with pytest.raises(FatalError, match="being written by another run"):
            open_output(str(target), resume_offset=resume_offset)
    assert target.read_bytes() == before
    writer.close()
    open_output(str(target), resume_offset=None).close()  # free again once closed


def test_zst_input_is_read_across_frames(tmp_path: Path) -> None:
    import zstandard

    compress = zstandard.ZstdCompressor().compress
    path = tmp_path / "in.ndjson.zst"
    path.write_bytes(compress(HEADER + obj("a")) + compress(obj("b")) + compress(SUMMARY))
    stream, seekable = open_input(str(path))
    source = RecordReader(stream, new_decoder(), stage="s3-check", seekable=seekable)
    assert source.read_header() == Header(stage="s3-manifest", source="s3://b/")
    assert [r.key for r in source if isinstance(r, ObjectRecord)] == ["a", "b"]
    assert source.summary == Summary(stage="s3-manifest", complete=True)
    assert not seekable  # resumed by verified replay, like .gz


def test_output_to_a_device_is_written_like_a_pipe() -> None:
    writer = open_output("/dev/null", resume_offset=None)
    assert not writer.is_file
    writer.write(ObjectRecord(bucket="b", key="a"))
    writer.close()
    assert open_output("/dev/null", resume_offset=123).is_file is False
