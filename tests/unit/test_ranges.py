"""Key ranges: split points, shard bounds, and the parallel lister's ordered merge."""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from lib.leaves.flush import FLUSH
from lib.stores import ranges
from lib.stores.ranges import KeyRange, ParallelLister, after_subtree, shard_bounds, split_point
from lib.stores.s3 import ListRequest

KEYS = sorted(
    [
        f"logs/2026/{month:02d}/{day:02d}/part-{part:03d}"
        for month in (1, 2, 11)
        for day in (1, 9)
        for part in range(40)
    ]
    + ["a", "a/", "a0", "plus+sign", "percent%20", "ümlaut", "😀/x", "\uffff", "sp ace", "zz"]
)


def first_key_after(
    keys: list[str], probes: list[str] | None = None
) -> Callable[[str], str | None]:
    def probe(point: str) -> str | None:
        if probes is not None:
            probes.append(point)
        index = bisect.bisect_right(keys, point)
        return keys[index] if index < len(keys) else None

    return probe


def test_after_subtree_is_above_the_subtree_and_below_what_follows() -> None:
    assert after_subtree("logs/2026", 4) == "logs0"
    assert after_subtree("a\ud7ffb", 1) == "a\ue000"
    assert after_subtree("a\U0010ffff", 1) is None


@pytest.mark.parametrize("low", ["logs/2026/01/01/part-000", "logs/2026/11/09/part-038", "a0"])
@pytest.mark.parametrize("high", [None, "logs/2026/02", "zz"])
def test_split_point_leaves_keys_on_both_sides(low: str, high: str | None) -> None:
    probes: list[str] = []
    point = split_point(low, high, 0, first_key_after(KEYS, probes))
    remaining = [key for key in KEYS if key > low and (high is None or key <= high)]
    if point is None:
        # Only when nothing is left to split off.
        assert len(remaining) <= 1 or all(key.startswith(low) for key in remaining)
        return
    assert low < point and (high is None or point < high)
    assert any(key > point for key in remaining)
    assert len(probes) <= 6
    # The widest subtree: a shorter one would leave nothing after the point.
    shorter = [p for p in (after_subtree(low, i) for i in range(len(point) - 1)) if p]
    for candidate in shorter:
        assert not any(candidate < key for key in remaining), (point, candidate)


def test_split_point_respects_the_prefix() -> None:
    keys = ["p/a1", "p/a2", "p/b1"]
    assert split_point("p/a1", None, 2, first_key_after(keys)) == "p/b"
    assert split_point("p/b1", None, 2, first_key_after(keys)) is None


def test_shard_bounds_cut_the_directories_into_equal_groups() -> None:
    tree = {
        "": [("a/", True), ("b", False), ("c/", True)],
        "a/": [(f"a/{n}", False) for n in range(6)],
        "c/": [("c/x/", True), ("c/y", False)],
        "c/x/": [("c/x/1", False)],
    }
    opened: list[str] = []

    def level(prefix: str) -> list[tuple[str, bool]]:
        opened.append(prefix)
        return tree[prefix]

    bounds = shard_bounds(level, "", 3)
    assert bounds == sorted(bounds) and len(bounds) == 2
    keys = sorted([*(f"a/{n}" for n in range(6)), "b", "c/x/1", "c/y"])
    parts = [
        [key for key in keys if KeyRange(after, upto).holds(key)]
        for after, upto in zip([None, *bounds], [*bounds, None], strict=True)
    ]
    assert sorted(key for part in parts for key in part) == keys
    assert [len(part) for part in parts] == [3, 3, 3]
    assert shard_bounds(level, "", 3) == bounds  # deterministic
    assert shard_bounds(lambda prefix: [], "p/", 3) == ["p/", "p/"]


# --- the parallel lister against the session's moto server -----------------------------

Seed = Callable[[str, Mapping[str, bytes]], None]


@pytest.fixture(scope="module")
def listed_bucket(
    server_client: Any, make_bucket: Callable[..., str], seed_objects: Seed
) -> tuple[Any, str, list[str]]:
    bucket = make_bucket()
    seed_objects(bucket, {key: key.encode() for key in KEYS})
    return server_client, bucket, KEYS


@pytest.mark.parametrize("streams", [1, 2, 5])
@pytest.mark.parametrize("page_size", [3, 1000])
def test_parallel_listing_is_the_sequential_listing(
    listed_bucket: tuple[Any, str, list[str]], streams: int, page_size: int
) -> None:
    client, bucket, keys = listed_bucket
    lister = ParallelLister(client, ListRequest(bucket, "", page_size=page_size), streams)
    listed = [record.key for record in lister if record is not FLUSH]
    assert listed == keys
    if streams > 1 and page_size == 3:
        assert lister.splits > 0


@pytest.mark.parametrize(
    ("prefix", "bounds"),
    [("logs/", KeyRange("logs/2026/02", "logs/2026/11/01/part-005")), ("", KeyRange(None, "a0"))],
)
def test_parallel_listing_stays_in_its_bounds(
    listed_bucket: tuple[Any, str, list[str]], prefix: str, bounds: KeyRange
) -> None:
    client, bucket, keys = listed_bucket
    lister = ParallelLister(client, ListRequest(bucket, prefix, page_size=4), 3, bounds)
    expected = [key for key in keys if key.startswith(prefix) and bounds.holds(key)]
    assert [record.key for record in lister if record is not FLUSH] == expected


def test_few_pages_are_buffered_while_the_reader_waits(
    listed_bucket: tuple[Any, str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, bucket, keys = listed_bucket
    monkeypatch.setattr(ranges, "PAGES_PER_STREAM", 2)
    lister = ParallelLister(client, ListRequest(bucket, "", page_size=2), 3)
    records = iter(lister)
    first = next(record for record in records if record is not FLUSH)
    # The workers run into their budget of 3 x 2 pages, then wait.
    requests, deadline = -1, time.monotonic() + 10
    while lister.requests != requests and time.monotonic() < deadline:
        requests = lister.requests
        time.sleep(0.3)
    assert lister.requests == requests < len(keys) // 2
    held = sum(len(part.pages) for part in lister._ranges)
    assert 0 < held <= 3 * 2
    rest = [record.key for record in records if record is not FLUSH]
    assert [first.key, *rest] == keys


def test_a_listing_error_reaches_the_reader(listed_bucket: tuple[Any, str, list[str]]) -> None:
    client, _, _ = listed_bucket
    lister = ParallelLister(client, ListRequest("no-such-bucket", ""), 2)
    with pytest.raises(Exception, match="NoSuchBucket"):
        list(lister)


# --- seeding --parallel from the directories ------------------------------------------


def seeded_listing(
    seeded: tuple[Any, str], keys: list[str], prefix: str, streams: int = 4
) -> ParallelLister:
    """Lists `prefix` on `streams` streams and checks it against the sorted keys."""
    client, bucket = seeded
    lister = ParallelLister(client, ListRequest(bucket, prefix, page_size=5), streams)
    listed = [record.key for record in lister if record is not FLUSH]
    assert listed == sorted(key for key in keys if key.startswith(prefix))
    return lister


SEED_LAYOUTS = {
    "directories": [
        f"{top}/{n:02d}" for top in ("aa", "bb", "cc", "dd", "ee", "ff") for n in range(9)
    ],
    "deep": [f"deep/down/{top}/x/{n}" for top in "abcdefg" for n in range(6)],
    "one-directory": [f"only/{sub}/{n}" for sub in "pqrstu" for n in range(7)] + ["only-not"],
    "hard": sorted(
        [
            f"h/{name}/{n}"
            for name in ("a+b", "sp ace", "ümlaut", "😀", "\uffff", "%20")
            for n in range(5)
        ]
        + ["h/", "h/a", "h/a/", "h/a0", "h/zz"]
    ),
}


SEED_KEYS = sorted(
    {
        *(f"flat-{n:04d}" for n in range(60)),
        *(key for keys in SEED_LAYOUTS.values() for key in keys),
    }
)


@pytest.fixture(scope="module")
def seed_bucket(
    server_client: Any, make_bucket: Callable[..., str], seed_objects: Seed
) -> tuple[Any, str]:
    bucket = make_bucket()
    seed_objects(bucket, dict.fromkeys(SEED_KEYS, b""))
    return server_client, bucket


@pytest.mark.parametrize(
    ("layout", "prefix"),
    [("directories", ""), ("deep", "deep/down/"), ("one-directory", "only"), ("hard", "h/")],
)
def test_seeding_cuts_at_the_directories(
    seed_bucket: tuple[Any, str], layout: str, prefix: str
) -> None:
    keys = [key for key in SEED_KEYS if key.startswith(prefix)]
    assert set(SEED_LAYOUTS[layout]) <= set(keys)
    lister = seeded_listing(seed_bucket, keys, prefix)
    assert lister.seeded >= 4, lister.seeded  # every stream has a range from the start
    # One request for the level (plus one per directory opened when too few), each
    # range then lists about its own keys' pages. A stream left idle on a loaded machine
    # may still split a range (probes, and a short page more per split): not counted.
    pages = len(keys) // 5 + lister.seeded * 2 + lister.splits
    listing = lister.requests - lister.probes
    assert listing <= pages + 1 + 8, (lister.requests, lister.probes, pages)


def test_seeding_flat_keys_falls_back_to_splitting(seed_bucket: tuple[Any, str]) -> None:
    flat = [f"flat-{n:04d}" for n in range(60)]
    lister = seeded_listing(seed_bucket, flat, "flat-", streams=3)
    assert lister.seeded <= 2  # nothing to cut at: ranges come from splitting
    assert lister.splits > 0


def test_seed_bounds_stay_inside_the_bounds_and_group_the_pieces() -> None:
    top = [(f"d{n:02d}/", True) for n in range(40)]

    def level(prefix: str) -> tuple[list[tuple[str, bool]], bool]:
        return (top, False) if prefix == "" else ([(f"{prefix}k", False)], False)

    bounds = ranges.seed_bounds(level, "", KeyRange(), 4)
    assert len(bounds) == 4 * ranges.SEED_RANGES_PER_STREAM - 1
    assert bounds == sorted(set(bounds))
    inside = ranges.seed_bounds(level, "", KeyRange("d10/x", "d20/"), 4)
    assert inside and all("d10/x" < bound < "d20/" for bound in inside)
    # A directory below too few: opened, one level deeper.
    opened: list[str] = []

    def single(prefix: str) -> tuple[list[tuple[str, bool]], bool]:
        opened.append(prefix)
        if prefix == "p":
            return [("p/", True)], False
        return [(f"p/{n}/", True) for n in range(6)], True

    deeper = ranges.seed_bounds(single, "p", KeyRange(), 3)
    assert opened == ["p", "p/"]
    assert len(deeper) == 5 and deeper == sorted(deeper)
