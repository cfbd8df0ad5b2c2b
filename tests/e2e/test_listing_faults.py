"""A listing the server gets wrong stops the stage with exit 3 naming the fault.

Against tests/fake_listing.py: a repeated continuation token, a token cycle, a
truncated page without a token whose highest key is not its last, a page out of
order, a page going backwards and an entry without <Size>. s3-manifest and s3-check
(list mode, which lists TARGET), each with one stream and with --parallel, must stop
within seconds, where before they looped until the disk was full or wrote keys out
of order with exit 0 (DESIGN.md, "Completeness").
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fake_listing import FIRST, FakeListingServer, Page

Run = Callable[..., subprocess.CompletedProcess[bytes]]

SCENARIOS = {
    "repeated-token": (
        {FIRST: Page(["a", "b"], "T"), "T": Page(["c", "d"], "T")},
        "repeated the continuation token 'T'",
    ),
    "token-cycle": (
        {FIRST: Page(["a", "b"], "A"), "A": Page(["c", "d"], "B"), "B": Page(["e", "f"], "A")},
        "repeated the continuation token 'A'",
    ),
    "truncated-without-token": (
        {FIRST: Page(["a", "z", "m"], truncated=True)},
        "keys out of order within a page: 'm' after 'z'",
    ),
    "page-out-of-order": (
        {FIRST: Page(["a", "c", "b", "d"])},
        "keys out of order within a page: 'b' after 'c'",
    ),
    "page-goes-backwards": (
        {FIRST: Page(["c", "d"], "T"), "T": Page(["a", "b"])},
        "a page went backwards: it starts at 'a' after 'd'",
    ),
    "entry-without-size": (
        {FIRST: Page(["a", "b"], without_size={"b"})},
        "the entry for 'b' has no <Size>",
    ),
}

# What each command lists: the fake bucket, by s3-manifest or by s3-check's list mode.
COMMANDS = {
    "manifest": ["s3-manifest", "s3://fake/"],
    "manifest-parallel": ["s3-manifest", "s3://fake/", "--parallel", "2"],
    "manifest-shard": ["s3-manifest", "s3://fake/", "--shard", "0/1"],
    "check": ["s3-check", "s3://fake/"],
    "check-parallel": ["s3-check", "s3://fake/", "--parallel", "2"],
}
# One stream of s3-manifest meets every fault; the other commands a loop or an order
# fault (a process start costs seconds on a loaded machine: not all 24 pairs).
CASES = [(scenario, "manifest") for scenario in SCENARIOS] + [
    ("repeated-token", "manifest-parallel"),
    ("page-goes-backwards", "manifest-parallel"),
    ("repeated-token", "manifest-shard"),
    ("page-out-of-order", "check"),
    ("page-goes-backwards", "check-parallel"),
]

EXPECTED = b"".join(
    json.dumps(record).encode() + b"\n"
    for record in (
        {"type": "header", "stage": "s3-manifest", "source": "s3://fake/"},
        {"type": "object", "bucket": "fake", "key": "a", "size": 0},
        {"type": "summary", "stage": "s3-manifest", "complete": True},
    )
)


@pytest.fixture
def fake_server() -> Iterator[Callable[[dict[str, Page]], FakeListingServer]]:
    servers: list[FakeListingServer] = []

    def start(pages: dict[str, Page]) -> FakeListingServer:
        servers.append(FakeListingServer(pages))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.mark.parametrize(("scenario", "command"), CASES)
def test_a_faulty_listing_stops_with_exit_3_naming_the_fault(
    run_cli: Run,
    fake_server: Callable[[dict[str, Page]], FakeListingServer],
    scenario: str,
    command: str,
) -> None:
    pages, fault = SCENARIOS[scenario]
    server = fake_server(pages)
    name, *args = COMMANDS[command]
    started = time.monotonic()

    result = run_cli(
        name,
        *args,
        "--endpoint-url",
        server.url,
        input=EXPECTED if name == "s3-check" else None,
        env={"AWS_MAX_ATTEMPTS": "1"},
        timeout=30,
    )

    assert result.returncode == 3, (result.returncode, result.stderr)
    stderr = result.stderr.decode()
    assert fault in stderr, stderr
    assert "the server's listing is faulty" in stderr
    assert "Traceback" not in stderr
    assert time.monotonic() - started < 20
    assert server.requests < 50  # it stopped, rather than looping


@pytest.mark.parametrize("parallel", ["1", "2"])
def test_spent_listing_retries_say_how_to_resume_with_any_number_of_streams(
    run_cli: Run,
    bucket: str,
    put_objects: Callable[..., dict[str, str]],
    slow_endpoint: Callable[[float], Any],
    parallel: str,
) -> None:
    """Every listing request answers 503: s3-manifest stops with exit 3, says the retries
    are spent and how to resume, the same with --parallel as with one stream (which
    before lost the hint, as the parallel lister translated errors on its own)."""
    put_objects(bucket, {"a/1": b"x", "b/1": b"y"})
    proxy = slow_endpoint(0)
    proxy.faults.status[("GET", "/")] = (503, "ServiceUnavailable")

    result = run_cli(
        "s3-manifest",
        f"s3://{bucket}/",
        "--parallel",
        parallel,
        env={"AWS_ENDPOINT_URL": proxy.url, "AWS_MAX_ATTEMPTS": "1"},
        timeout=30,
    )

    assert result.returncode == 3, result.stderr
    stderr = result.stderr.decode()
    assert "failed: ServiceUnavailable: injected (retries exhausted)" in stderr, stderr
    assert "hint: rerun the same command (with --checkpoint) to resume" in stderr, stderr
    assert "Traceback" not in stderr
