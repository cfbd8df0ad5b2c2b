"""The Store protocol: every test runs the same steps against S3 (moto) and a local directory."""

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lib.engine.window import AdaptiveWindow
from lib.leaves.flush import FLUSH
from lib.leaves.location import parse_location
from lib.leaves.records import ObjectRecord
from lib.stores.protocol import Deletion, ListSpec, SourceInfo, Store, store_for
from lib.stores.transfer import Retrier, Timeouts

KEYS = ["a.txt", "b/c.txt", "b/d.txt", "e.txt"]
DATA = bytes(range(256)) * 4


class RefusingClient:
    """A moto client whose DeleteObjects answers AccessDenied for the keys in `refused`
    (a per-key refusal moto itself never gives)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.refused: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def delete_objects(self, Bucket: str, Delete: dict[str, Any]) -> dict[str, Any]:
        asked = Delete["Objects"]
        allowed = [item for item in asked if item["Key"] not in self.refused]
        answer: dict[str, Any] = {"Deleted": [], "Errors": []}
        if allowed:
            answer = self._client.delete_objects(
                Bucket=Bucket, Delete={**Delete, "Objects": allowed}
            )
        errors = [
            {"Key": item["Key"], "Code": "AccessDenied"}
            for item in asked
            if item["Key"] in self.refused
        ]
        return {"Deleted": answer.get("Deleted", []), "Errors": answer.get("Errors", []) + errors}


# A store holding KEYS (each DATA), and a way to make one key refuse its deletion (which
# returns a check that the key's object is still there).
Made = tuple[Store, Callable[[str], Callable[[], bool]]]


@pytest.fixture(params=["s3", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Made]:
    if request.param == "local":
        root = tmp_path / "root"
        for key in KEYS:
            (root / key).parent.mkdir(parents=True, exist_ok=True)
            (root / key).write_bytes(DATA)

        def refuse_local(key: str) -> Callable[[], bool]:  # a symlink is never removed
            (root / key).unlink()
            os.symlink(tmp_path / "elsewhere", root / key)
            return (root / key).is_symlink

        yield store_for(parse_location(str(root)), None), refuse_local
        return
    client = RefusingClient(request.getfixturevalue("server_client"))
    bucket = request.getfixturevalue("make_bucket")()
    request.getfixturevalue("seed_objects")(bucket, dict.fromkeys(KEYS, DATA))
    made = store_for(parse_location(f"s3://{bucket}/"), client)

    def refuse_s3(key: str) -> Callable[[], bool]:
        client.refused.add(key)
        return lambda: made.head(key) is not None

    yield made, refuse_s3


def retrier() -> Retrier:
    return Retrier(Timeouts())


def keys(records: Any) -> list[str]:
    return [r.key for r in records if r is not FLUSH and isinstance(r, ObjectRecord)]


def test_list_after_a_key_gives_the_later_keys_in_order(store: Made) -> None:
    found, _ = store
    assert keys(found.list()) == KEYS
    assert keys(found.list("b/c.txt")) == ["b/d.txt", "e.txt"]
    assert keys(found.list("e.txt")) == []


def test_a_listing_resumes_from_its_position(store: Made) -> None:
    found, _ = store
    first = found.listing(ListSpec(page_size=2), {})
    taken = []
    for record in first:
        taken.append(record)
        if len(keys(taken)) == 2:
            break
    rest = found.listing(ListSpec(page_size=2), first.position())
    assert keys(taken) + keys(rest) == KEYS


def test_head_of_a_missing_key_is_none_and_of_a_present_one_its_size(store: Made) -> None:
    found, _ = store
    assert found.head("b/nothing.txt") is None
    info = found.head("b/c.txt")
    assert info is not None and info.record.size == len(DATA)


def test_read_a_range_gives_exactly_those_bytes(store: Made) -> None:
    found, _ = store
    assert b"".join(found.read("b/d.txt", 100, 300, retrier())) == DATA[100:400]
    with found.open("b/d.txt") as stream:
        assert stream.read() == DATA


def test_write_then_head_describes_what_was_written(store: Made) -> None:
    found, _ = store
    info = SourceInfo(size=5, etag=None, content_type="text/plain")
    written = found.put("new/f.txt", [b"he", b"llo"], info, retrier())
    assert written.size == 5 and written.md5 == "5d41402abc4b2a76b9719d911017c592"
    head = found.head("new/f.txt")
    assert head is not None and head.record.size == 5
    assert b"".join(found.read("new/f.txt", 0, 5, retrier())) == b"hello"


def test_delete_many_reports_each_key_and_keeps_the_refused_one(store: Made) -> None:
    found, refuse = store
    still_there = refuse("b/c.txt")
    deletions = [Deletion(key, None) for key in ("a.txt", "b/c.txt", "missing.txt")]
    found.delete_many(deletions, AdaptiveWindow(4))
    outcome = {d.key: (d.status, d.error) for d in deletions}
    assert outcome["a.txt"] == ("deleted", None)
    assert outcome["missing.txt"] == ("deleted", None)  # as S3 reports a missing key
    status, error = outcome["b/c.txt"]
    assert status == "failed" and error
    assert still_there()
    assert [key for key in keys(found.list()) if key != "b/c.txt"] == ["b/d.txt", "e.txt"]
