"""lib/pipelines/coverage.py: what a header declares, and which target keys s3-check may
call extra."""

from __future__ import annotations

from lib.leaves.records import ErrorRecord
from lib.pipelines.coverage import Coverage, declared
from lib.stores.ranges import KeyRange


def test_declared_is_none_for_a_whole_listing_and_relative_to_the_prefix() -> None:
    assert declared("data/") is None
    assert declared("data/", ["*.tar"], ["x*"]) == {"include": ["*.tar"], "exclude": ["x*"]}
    bounds = KeyRange("data/c/", "data/m")
    assert declared("data/", bounds=bounds, shard="1/3") == {
        "shard": "1/3",
        "after": "c/",
        "upto": "m",
    }
    assert declared("data/", bounds=KeyRange(None, None), shard="0/1") == {
        "shard": "0/1",
        "after": None,
        "upto": None,
    }
    assert declared("", keys=True) == {"keys": True}


def test_filters_and_ranges_are_matched_below_the_target_prefix() -> None:
    coverage = Coverage({"include": ["*.tar"], "after": "b", "upto": "m"}, "data/", "backup/")
    assert coverage.holds("backup/c.tar")
    assert not coverage.holds("backup/c.txt")  # filtered out
    assert not coverage.holds("backup/a.tar")  # before the range
    assert not coverage.holds("backup/b")  # the range's `after` is excluded
    assert coverage.holds("backup/m.tar") is False  # "m.tar" > "m"
    assert coverage.note() == (
        "input covers only --include '*.tar' keys after 'b' up to 'm': "
        "extras outside it are not reported"
    )
    whole = Coverage(None, "data/", "backup/")
    assert whole.holds("backup/anything") and whole.note() is None


def test_error_records_make_holes_in_the_target_keys() -> None:
    coverage = Coverage(None, "data/", "backup/")
    for key in ("data/sub/", "data/gone.txt", "elsewhere/x"):
        assert coverage.add_hole(ErrorRecord(stage="s3-manifest", message="m", key=key), 3) is None
    assert not coverage.holds("backup/sub/deep/x")
    assert not coverage.holds("backup/gone.txt")
    assert coverage.holds("backup/gone.txt2") and coverage.holds("backup/subway")
    coverage.add_hole(ErrorRecord(stage="s3-manifest", message="m", key="data/"), 4)
    assert not coverage.holds("backup/top")  # the whole source prefix is a hole


def test_a_keyless_error_a_key_list_or_an_unknown_field_allow_no_extras() -> None:
    keyless = Coverage(None, "", "")
    note = keyless.add_hole(ErrorRecord(stage="s3-check", message="bad line"), 7)
    assert note is not None and "input line 7" in note
    assert keyless.add_hole(ErrorRecord(stage="s3-check", message="again"), 9) is None
    assert not keyless.holds("a")
    keys = Coverage({"keys": True}, "", "")
    assert not keys.holds("a") and "key list" in (keys.note() or "")
    future = Coverage({"since": "2026-01-01"}, "", "")
    assert not future.holds("a") and "does not know" in (future.note() or "")
