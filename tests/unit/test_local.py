"""Local directories list like S3: `/` keys in UTF-8 byte order, resumable, no surprises."""

import hashlib
import os
from pathlib import Path

import pytest

from lib.leaves.location import parse_location
from lib.leaves.records import ErrorRecord, ObjectRecord
from lib.pipelines.manifest import ManifestOptions, ManifestPipeline
from lib.stores.local import list_directory, walk_files
from lib.stores.protocol import store_for

NAMES = ["a-b/x", "a/b", "a/c/d", "a0", "b b", "é", "z", "😀", "\uffff", "a/a+b", "a.b"]


def make_tree(root: Path, names: list[str]) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode())


def keys_of(root: Path, **options: object) -> list[str]:
    records = [record for _, record in list_directory(str(root), **options)]  # type: ignore[arg-type]
    return [r.key for r in records if isinstance(r, ObjectRecord)]


def test_keys_come_in_utf8_byte_order(tmp_path: Path) -> None:
    make_tree(tmp_path, NAMES)
    assert keys_of(tmp_path) == sorted(NAMES, key=lambda name: name.encode())
    assert keys_of(tmp_path)[:3] == ["a-b/x", "a.b", "a/a+b"]  # "-" and "." sort before "/"


def test_records_carry_size_mtime_and_optional_md5(tmp_path: Path) -> None:
    make_tree(tmp_path, ["dir/file"])
    os.utime(tmp_path / "dir/file", (0, 86400.5))
    [(_, plain)] = list(list_directory(str(tmp_path)))
    [(_, hashed)] = list(list_directory(str(tmp_path), md5=True))
    assert isinstance(plain, ObjectRecord) and isinstance(hashed, ObjectRecord)
    assert plain.bucket == str(tmp_path) and plain.key == "dir/file" and plain.size == 8
    assert plain.last_modified == "1970-01-02T00:00:00.500Z"
    assert plain.etag is None
    assert hashed.etag == hashlib.md5(b"dir/file").hexdigest()


def test_resume_after_a_path_skips_everything_before_it(tmp_path: Path) -> None:
    make_tree(tmp_path, NAMES)
    ordered = sorted(NAMES, key=lambda name: name.encode())
    for cut in range(len(ordered)):
        after = ordered[cut].encode()
        assert [rel.decode() for rel, _, _ in walk_files(str(tmp_path), after=after)] == ordered[
            cut + 1 :
        ]


def test_symlinks_are_skipped(tmp_path: Path) -> None:
    make_tree(tmp_path, ["real"])
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "dirlink").symlink_to(tmp_path)
    assert keys_of(tmp_path) == ["real"]


def test_non_utf8_names_become_error_records(tmp_path: Path) -> None:
    make_tree(tmp_path, ["ok"])
    (Path(os.fsdecode(bytes(tmp_path))) / os.fsdecode(b"bad\xff")).write_bytes(b"x")
    records = [record for _, record in list_directory(str(tmp_path))]
    assert [type(r) for r in records] == [ErrorRecord, ObjectRecord]
    assert "not valid UTF-8" in records[0].message  # type: ignore[union-attr]


def test_pipeline_resumes_from_its_cursor_with_filters(tmp_path: Path) -> None:
    make_tree(tmp_path, NAMES)
    location = parse_location(str(tmp_path))
    options = ManifestOptions(include=["a*"], exclude=["*b"])
    full = ManifestPipeline(store_for(location, None), options)
    records = [r for r in full if isinstance(r, ObjectRecord)]
    assert [r.key for r in records] == ["a-b/x", "a/c/d", "a0"]
    assert full.complete

    first = ManifestPipeline(store_for(location, None), options)
    iterator = iter(first)
    next(iterator)
    second = ManifestPipeline(store_for(location, None), options, cursor=first.cursor())
    assert [r.key for r in second if isinstance(r, ObjectRecord)] == ["a/c/d", "a0"]


def test_missing_directory_is_fatal(tmp_path: Path) -> None:
    from lib.leaves.errors import FatalError

    with pytest.raises(FatalError, match="not a directory"):
        list(list_directory(str(tmp_path / "nope")))
