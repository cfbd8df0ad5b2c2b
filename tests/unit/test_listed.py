"""lib/pipelines/listed.py: listing pages answer "what is at this key?" for keys in order."""

from __future__ import annotations

import itertools

from lib.leaves.records import ObjectRecord
from lib.pipelines.listed import Listed


class Bucket:
    """A listing over `keys` (sorted), `page_size` per page, counting the pages asked."""

    def __init__(self, keys: list[str], page_size: int = 4) -> None:
        self.keys = sorted(keys)
        self.page_size = page_size
        self.asked: list[str | None] = []

    def page(self, after: str | None) -> tuple[list[ObjectRecord], bool]:
        self.asked.append(after)
        rest = [key for key in self.keys if after is None or key > after]
        chosen = rest[: self.page_size]
        records = [ObjectRecord(bucket="b", key=key, size=len(key), etag="e") for key in chosen]
        return records, len(rest) > self.page_size


def test_keys_in_order_are_answered_a_page_at_a_time() -> None:
    bucket = Bucket([f"k{n:02}" for n in range(100)], page_size=20)
    listed = Listed(bucket.page)
    previous = None
    answers = []
    for n in range(0, 100, 2):  # every other key exists: k00, k02, ... asked; k01... too
        for key in (f"k{n:02}", f"k{n:02}x"):  # k..x never exists
            answers.append((key, listed.lookup(key, previous)))
            previous = key
    assert answers[0] == ("k00", (False, None))  # the first key: nothing to start after
    known = dict(answers[1:])
    assert all(found for found, _ in known.values())
    assert {key for key, (_, record) in known.items() if record is not None} == {
        f"k{n:02}" for n in range(2, 100, 2)
    }
    assert known["k04"][1] == ObjectRecord(bucket="b", key="k04", size=3, etag="e")
    # Each page starts where the last one ended: no key is listed twice.
    assert bucket.asked == ["k00", "k20", "k40", "k60", "k80"]
    assert not listed.declined


def test_keys_out_of_order_are_declined() -> None:
    bucket = Bucket(["a", "b", "c"])
    listed = Listed(bucket.page)
    assert listed.lookup("b", "c") == (False, None)
    assert listed.lookup("b", "b") == (False, None)
    assert bucket.asked == []


def test_a_written_key_is_asked_again_with_a_head() -> None:
    bucket = Bucket(["a", "b", "c"])
    listed = Listed(bucket.page)
    assert listed.lookup("b", "a") == (True, ObjectRecord(bucket="b", key="b", size=1, etag="e"))
    listed.forget("c")
    assert listed.lookup("c", "b") == (False, None)
    assert listed.lookup("b", "a")[0]  # the others stay known


def test_sparse_input_stops_listing_after_a_few_pages() -> None:
    bucket = Bucket([f"k{n:04}" for n in range(1000)], page_size=10)
    listed = Listed(bucket.page)
    asked = [f"k{n:04}" for n in range(0, 1000, 50)]  # one key of every five pages
    results = [listed.lookup(key, previous) for previous, key in itertools.pairwise(asked)]
    assert len(bucket.asked) == 3  # the trial pages, each answering one key
    assert listed.declined
    assert results[3:] == [(False, None)] * (len(results) - 3)


def test_a_key_past_the_page_is_asked_with_a_head() -> None:
    bucket = Bucket([f"k{n:02}" for n in range(30)], page_size=4)
    listed = Listed(bucket.page)
    assert listed.lookup("k20", "k01") == (False, None)  # k02..k05 listed: k20 not covered
    assert listed.lookup("k03", "k02") == (
        True,
        ObjectRecord(bucket="b", key="k03", size=3, etag="e"),
    )


def test_a_failed_listing_leaves_the_answers_to_heads() -> None:
    def refused(after: str | None) -> tuple[list[ObjectRecord], bool]:
        raise PermissionError("AccessDenied: ListObjectsV2")

    listed = Listed(refused)
    assert listed.lookup("b", "a") == (False, None)
    assert listed.declined
