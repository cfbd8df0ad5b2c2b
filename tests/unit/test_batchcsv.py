"""--format s3-batch-csv: which records become rows, how keys are encoded, resume."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from lib.io.batchcsv import BatchCsvWriter, batch_row, encode_row
from lib.io.ndjson import open_output
from lib.leaves.errors import UsageError
from lib.leaves.records import (
    CheckRecord,
    DeleteRecord,
    ErrorRecord,
    Header,
    ObjectRecord,
    RepairRecord,
    Source,
    Summary,
)

# Written out by hand (not computed with urllib) so that the test pins the encoding.
HARD_KEYS = [
    ("plain/key.txt", "plain/key.txt"),
    ("object key with spaces", "object%20key%20with%20spaces"),
    ("a+b", "a%2Bb"),
    ("100%", "100%25"),
    ("%20", "%2520"),
    ("é/日本", "%C3%A9/%E6%97%A5%E6%9C%AC"),
    ("line\nbreak\r\t", "line%0Abreak%0D%09"),
    ('comma,quote"', "comma%2Cquote%22"),
    ("/leading//double/../", "/leading//double/../"),
    ("unreserved-_.~", "unreserved-_.~"),
    ("&<>?#=;:@!$'()*", "%26%3C%3E%3F%23%3D%3B%3A%40%21%24%27%28%29%2A"),
]


@pytest.mark.parametrize(("key", "encoded"), HARD_KEYS)
def test_keys_are_url_encoded_except_slash(key: str, encoded: str) -> None:
    assert encode_row("bkt", key, None) == f"bkt,{encoded}\n".encode()


def test_version_column_and_aws_version_ids_unchanged() -> None:
    row = encode_row("bkt", "a b", "PZ9ibn9D5lP6p298B7S9_ceqx1n5EJ0p.x")
    assert row == b"bkt,a%20b,PZ9ibn9D5lP6p298B7S9_ceqx1n5EJ0p.x\n"
    assert encode_row("bkt", "k", "null") == b"bkt,k,null\n"
    assert encode_row("bkt", "k", "odd,id\n") == b"bkt,k,odd%2Cid%0A\n"


def test_a_local_directory_has_no_rows() -> None:
    with pytest.raises(UsageError, match="local directory"):
        encode_row("/srv/files", "a", None)


def test_which_object_a_record_names() -> None:
    source = ObjectRecord(bucket="src", key="data/a", version_id="v1")
    found = ObjectRecord(bucket="dst", key="backup/x")
    assert batch_row(source) == ("src", "data/a", "v1")
    assert batch_row(ObjectRecord(bucket="b", key="k", version_id="v", delete_marker=True)) is None
    missing = CheckRecord(bucket="dst", key="backup/a", version_id="v1", status="missing",
                          expected=source)  # fmt: skip
    assert batch_row(missing) == ("src", "data/a", "v1")
    extra = CheckRecord(bucket="dst", key="backup/x", status="extra", actual=found)
    assert batch_row(extra) == ("dst", "backup/x", None)
    repair = RepairRecord(bucket="dst", key="backup/a", status="failed",
                          source=Source(bucket="src", key="data/a"))  # fmt: skip
    assert batch_row(repair) == ("src", "data/a", None)
    delete = DeleteRecord(bucket="dst", key="backup/x", version_id="v9", status="deleted")
    assert batch_row(delete) == ("dst", "backup/x", "v9")
    assert batch_row(Header(stage="s3-check")) is None
    assert batch_row(Summary(stage="s3-check")) is None
    assert batch_row(ErrorRecord(stage="s3-check", message="bad")) is None


def test_only_rows_are_written() -> None:
    raw = io.BytesIO()
    writer = BatchCsvWriter(raw, is_file=False)
    writer.write(Header(stage="s3-manifest"))
    writer.write(ObjectRecord(bucket="b", key="a b"))
    writer.write(ErrorRecord(stage="s3-manifest", message="bad"))
    writer.write(ObjectRecord(bucket="b", key="c"))
    writer.write(Summary(stage="s3-manifest", complete=True))
    writer.sync()
    assert raw.getvalue() == b"b,a%20b\nb,c\n"
    assert writer.offset == len(raw.getvalue())


def test_rows_with_and_without_versions_do_not_mix() -> None:
    writer = BatchCsvWriter(io.BytesIO(), is_file=False)
    writer.write(ObjectRecord(bucket="b", key="a", version_id="v1"))
    with pytest.raises(UsageError, match="version ids on all rows or on none"):
        writer.write(ObjectRecord(bucket="b", key="c"))
    with pytest.raises(UsageError):  # nothing more is committed after that
        writer.sync()


@pytest.mark.parametrize("name", ["out.csv", "out.csv.gz"])
def test_resume_reads_the_column_layout_back(tmp_path: Path, name: str) -> None:
    path = str(tmp_path / name)
    first = open_output(path, resume_offset=None, writer=BatchCsvWriter)
    first.write(ObjectRecord(bucket="b", key="a", version_id="v1"))
    committed = first.sync()
    first.write(ObjectRecord(bucket="b", key="lost", version_id="v2"))
    first.flush()
    first.release()  # the crashed run's process is gone, and its output lock with it
    resumed = open_output(path, resume_offset=committed, writer=BatchCsvWriter)
    with pytest.raises(UsageError):
        resumed.write(ObjectRecord(bucket="b", key="unversioned"))
    resumed.release()
    again = open_output(path, resume_offset=committed, writer=BatchCsvWriter)
    again.write(ObjectRecord(bucket="b", key="c d", version_id="v3"))
    again.close()
    data = Path(path).read_bytes()
    text = gzip.decompress(data) if name.endswith(".gz") else data
    assert text == b"b,a,v1\nb,c%20d,v3\n"
