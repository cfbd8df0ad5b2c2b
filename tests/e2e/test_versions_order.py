"""`--versions` output is in key order, newest first, whatever order the server uses.

moto writes a page's delete markers after all of its versions (`a, a, b, …, a`), where
S3 interleaves them; s3-manifest must give key order all the same, with one page or
with pages that cut a key's entries in two (KeyMarker/VersionIdMarker).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest

Run = Callable[..., subprocess.CompletedProcess[bytes]]


@pytest.fixture(scope="module")
def history(make_bucket: Callable[..., str], s3_client: Any) -> tuple[str, list[tuple[str, str]]]:
    """A versioned bucket and its entries as (key, version id), in S3's order.

    moto gives LastModified to the second in listings, so the steps are a second apart.
    """
    name = make_bucket(versioned=True)
    steps: list[list[tuple[str, str | None]]] = [
        [("a", "v1"), ("b/c", "v1"), ("d", "v1")],
        [("a", None), ("b/c", None)],  # delete markers
        [("a", "v3"), ("d", "v2")],
    ]
    entries: dict[str, list[str]] = {}
    for number, step in enumerate(steps):
        if number:
            time.sleep(1.05)
        for key, body in step:
            if body is None:
                version = s3_client.delete_object(Bucket=name, Key=key)["VersionId"]
            else:
                version = s3_client.put_object(Bucket=name, Key=key, Body=body.encode())[
                    "VersionId"
                ]
            entries.setdefault(key, []).insert(0, version)  # newest first
    return name, [(key, version) for key in sorted(entries) for version in entries[key]]


@pytest.mark.parametrize("page_size", ["1000", "3"])
def test_versions_come_in_key_order_newest_first(
    run_cli: Run,
    parse_ndjson: Callable[[bytes], list[dict[str, Any]]],
    history: tuple[str, list[tuple[str, str]]],
    page_size: str,
) -> None:
    name, expected = history
    result = run_cli("s3-manifest", f"s3://{name}", "--versions", "--page-size", page_size)
    assert result.returncode == 0, result.stderr
    objects = [r for r in parse_ndjson(result.stdout) if r["type"] == "object"]
    assert [(r["key"], r["version_id"]) for r in objects] == expected
    assert [r["delete_marker"] for r in objects] == [
        False, True, False,  # a: v3, its delete marker, v1
        True, False,  # b/c: its delete marker, v1
        False, False,  # d: v2, v1
    ]  # fmt: skip
    assert [r["is_latest"] for r in objects] == [True, False, False, True, False, True, False]
