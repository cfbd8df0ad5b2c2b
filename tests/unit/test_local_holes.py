"""Holes in a local walk: what cannot be listed is an error record with the hole's key."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

import lib.pipelines.verify
from lib.leaves.hashing import file_etag
from lib.leaves.location import parse_location
from lib.leaves.records import ErrorRecord, ObjectRecord
from lib.pipelines.manifest import ManifestOptions, ManifestPipeline
from lib.pipelines.verify import Verifier
from lib.stores import local
from lib.stores.local import list_directory, walk_files
from lib.stores.protocol import Stores, store_for


def make_tree(root: Path, names: list[str]) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode())


def appending_after(hashing: Callable[[str, int | None], str]) -> Callable[..., str]:
    """`hashing` as if a writer appended to the file while it was read."""

    def hash_then_append(path: str, part_size: int | None) -> str:
        etag = hashing(path, part_size)
        with open(path, "ab") as handle:
            handle.write(b"more")
        return etag

    return hash_then_append


def kinds(records: list[ObjectRecord | ErrorRecord]) -> list[tuple[str, str | None]]:
    return [(type(record).__name__, record.key) for record in records]


def test_a_directory_removed_during_the_walk_is_a_hole(tmp_path: Path) -> None:
    make_tree(tmp_path, ["a", "gone/x", "gone/y", "z"])
    walk = list_directory(str(tmp_path))
    first = next(walk)[1]
    for name in ("x", "y"):
        (tmp_path / "gone" / name).unlink()
    (tmp_path / "gone").rmdir()  # after the root was read, before "gone/" is entered
    rest = [record for _, record in walk]
    assert kinds([first, *rest]) == [
        ("ObjectRecord", "a"),
        ("ErrorRecord", "gone/"),
        ("ObjectRecord", "z"),
    ]
    assert "No such file or directory" in rest[0].message


def test_a_file_removed_before_its_stat_is_a_hole(tmp_path: Path) -> None:
    make_tree(tmp_path, ["a", "b"])
    walk = list_directory(str(tmp_path))
    next(walk)
    (tmp_path / "b").unlink()
    [(_, record)] = list(walk)
    assert isinstance(record, ErrorRecord) and record.key == "b"


def test_a_path_longer_than_path_max_is_a_hole(tmp_path: Path) -> None:
    make_tree(tmp_path, ["a", "z"])
    name = b"d" * 250
    fd = os.open(tmp_path, os.O_RDONLY)
    for _ in range(20):  # 20 * 251 bytes: past PATH_MAX (4096)
        os.mkdir(name, dir_fd=fd)
        inner = os.open(name, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(os.open(b"deep-file", os.O_CREAT | os.O_WRONLY, dir_fd=fd))
    os.close(fd)
    records = [record for _, record in list_directory(str(tmp_path))]
    assert [type(record).__name__ for record in records] == [
        "ObjectRecord",
        "ErrorRecord",
        "ObjectRecord",
    ]
    hole = records[1]
    assert isinstance(hole, ErrorRecord) and hole.key is not None
    assert hole.key.endswith("/") and hole.key.startswith("d" * 250 + "/")
    assert "File name too long" in hole.message


def test_resuming_at_a_hole_does_not_report_it_twice(tmp_path: Path) -> None:
    make_tree(tmp_path, ["a", "sub/x", "z"])
    rels = [rel for rel, _, _ in walk_files(str(tmp_path), after=b"sub/")]
    assert rels == [b"z"]


def test_holes_make_the_pipeline_incomplete_even_after_a_resume(tmp_path: Path) -> None:
    make_tree(tmp_path, ["a", "z"])
    with open(os.path.join(os.fsencode(tmp_path), b"b\xff"), "wb") as handle:
        handle.write(b"x")
    location = parse_location(str(tmp_path))
    first = ManifestPipeline(store_for(location, None), ManifestOptions())
    records = iter(first)
    next(records)
    assert isinstance(next(records), ErrorRecord)
    resumed = ManifestPipeline(store_for(location, None), ManifestOptions(), cursor=first.cursor())
    assert [r.key for r in resumed if isinstance(r, ObjectRecord)] == ["z"]
    assert resumed.complete is False


def test_a_file_that_changes_while_hashed_is_a_hole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tree(tmp_path, ["a", "b"])
    monkeypatch.setattr(local, "file_etag", appending_after(file_etag))
    records = [record for _, record in list_directory(str(tmp_path), md5=True)]
    assert kinds(records) == [("ErrorRecord", "a"), ("ErrorRecord", "b")]
    assert all("changed while it was hashed" in r.message for r in records)  # type: ignore[union-attr]


def test_check_compares_no_etag_of_a_file_that_changed_while_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tree(tmp_path, ["f"])
    [(_, listed)] = list(list_directory(str(tmp_path)))
    monkeypatch.setattr(lib.pipelines.verify, "file_etag", appending_after(file_etag))
    assert isinstance(listed, ObjectRecord)
    other = ObjectRecord(
        bucket="bkt", key="f", size=listed.size, etag=file_etag(str(tmp_path / "f"), None)
    )
    status, detail = Verifier(Stores(None)).compare(listed, other)
    assert status == "error" and detail is not None and "changed" in detail
