"""What a listing stream checks of the server: increasing keys, no repeated continuation."""

from __future__ import annotations

import pytest

from lib.leaves.errors import FatalError
from lib.leaves.records import ObjectRecord
from lib.stores.s3 import ListingGuard, ListRequest, newest_first, next_params

NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def page(keys: list[str], token: str | None) -> bytes:
    entries = "".join(f"<Contents><Key>{key}</Key><Size>1</Size></Contents>" for key in keys)
    next_token = f"<NextContinuationToken>{token}</NextContinuationToken>" if token else ""
    truncated = "true" if token else "false"
    return (
        f"<ListBucketResult {NS}><IsTruncated>{truncated}</IsTruncated>{next_token}"
        f"{entries}</ListBucketResult>"
    ).encode()


def records(*keys: str) -> list[ObjectRecord]:
    return [ObjectRecord(bucket="b", key=key) for key in keys]


def test_without_a_token_the_next_page_starts_after_the_highest_key() -> None:
    request = ListRequest("b", "")
    body = page(["a", "z", "m"], None).replace(b"false", b"true")
    assert next_params(request, request.params(), body)["StartAfter"] == "z"  # type: ignore[index]


def test_a_cycle_of_empty_pages_is_caught_however_long() -> None:
    request = ListRequest("b", "")
    guard = ListingGuard(request, None)
    params = guard.follow(request.params(), page(["a"], "t0"))
    for number in range(1, 2000):
        assert params is not None
        params = guard.follow(params, page([], f"t{number}"))
    assert params is not None
    with pytest.raises(FatalError, match="repeated the continuation token 't5'"):
        guard.follow(params, page([], "t5"))


def test_a_long_cycle_over_pages_with_keys_is_caught_by_the_key_order() -> None:
    request = ListRequest("b", "")
    guard = ListingGuard(request, None)
    params: dict[str, object] | None = request.params()
    keys = [f"k{number:05d}" for number in range(3000)]
    for number, key in enumerate(keys):  # more pages than tokens remembered
        assert params is not None
        params = guard.follow(params, page([key], f"t{number}"))
        guard.check(records(key))
    assert params is not None
    params = guard.follow(params, page([keys[0]], "t0"))  # forgotten: only the keys tell
    with pytest.raises(FatalError, match="went backwards: it starts at 'k00000' after 'k02999'"):
        guard.check(records(keys[0]))


def test_keys_must_increase_but_one_keys_versions_may_span_pages() -> None:
    plain = ListingGuard(ListRequest("b", ""), "a")
    with pytest.raises(FatalError, match="went backwards"):
        plain.check(records("a"))
    versions = ListingGuard(ListRequest("b", "", versions=True), None)
    versions.check(records("a", "b"))
    versions.check(records("b", "c"))
    with pytest.raises(FatalError, match="went backwards"):
        versions.check(records("b"))


def entry(
    key: str, version: str, second: str, *, marker: bool = False, latest: bool = False
) -> ObjectRecord:
    return ObjectRecord(
        bucket="b",
        key=key,
        version_id=version,
        last_modified=f"2026-01-01T00:00:0{second}.000Z",
        delete_marker=marker,
        is_latest=latest,
    )


def test_versions_and_markers_merge_by_time_then_latest_then_server_order() -> None:
    page_entries = [  # as moto gives them: every version, then every delete marker
        entry("a", "a3", "5", latest=True),
        entry("a", "a1", "1"),
        entry("b", "b2", "4"),
        entry("b", "b1", "4"),
        entry("a", "am", "3", marker=True),
        entry("b", "bm", "4", marker=True, latest=True),  # same second: the latest first
        entry("b", "bm0", "4", marker=True),  # same second, not latest: server order
    ]
    ordered = [record.version_id for record in newest_first(page_entries)]
    assert ordered == ["a3", "am", "a1", "bm", "b2", "b1", "bm0"]
