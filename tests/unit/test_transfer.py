"""Transfer helpers: adaptive timeouts, upload state, part sizes, local path safety."""

import hashlib
from typing import Any

import pytest

from lib.leaves.location import Location
from lib.stores.transfer import (
    MIB,
    Retrier,
    Timeouts,
    Uploads,
    UploadState,
    multipart_etag,
    part_size_for,
)


def test_timeout_grows_with_size_and_doubles_per_retry() -> None:
    timeouts = Timeouts(base_s=2.0, factor=3.0, bandwidth=10e6)
    assert timeouts.timeout(0, 1) == 2.0
    assert timeouts.timeout(10_000_000, 1) == pytest.approx(5.0)
    assert timeouts.timeout(10_000_000, 3) == pytest.approx(20.0)


def test_bandwidth_is_an_exponential_average_of_large_transfers() -> None:
    timeouts = Timeouts(bandwidth=10e6, alpha=0.5)
    timeouts.observe(1000, 1.0)  # small: latency, not bandwidth
    assert timeouts.bandwidth == 10e6
    timeouts.observe(20_000_000, 1.0)
    assert timeouts.bandwidth == pytest.approx(15e6)


def test_retrier_retries_only_what_may_succeed_later(monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.exceptions

    monkeypatch.setattr("lib.stores.transfer.time.sleep", lambda seconds: None)
    seen: list[float] = []

    class FakeClients:
        def get(self, timeout_s: float) -> float:
            seen.append(timeout_s)
            return timeout_s

    def flaky(client: object) -> str:
        if len(seen) < 3:
            raise botocore.exceptions.ReadTimeoutError(endpoint_url="http://x")
        return "done"

    retrier = Retrier(Timeouts(base_s=1.0, factor=0.0))
    assert retrier.call(FakeClients(), 0, flaky) == "done"  # type: ignore[arg-type]
    assert seen == [1.0, 2.0, 4.0] and retrier.retries == 2

    def denied(client: object) -> str:
        raise botocore.exceptions.ClientError({"Error": {"Code": "AccessDenied"}}, "PutObject")

    with pytest.raises(botocore.exceptions.ClientError):
        Retrier(Timeouts()).call(FakeClients(), 0, denied)  # type: ignore[arg-type]


def test_upload_state_survives_a_checkpoint_round_trip() -> None:
    uploads = Uploads()
    uploads.start("big", UploadState(upload_id="u1", part_size=5 * MIB))
    uploads.part_done("big", 1, "abc")
    restored = Uploads.restore(uploads.snapshot())
    state = restored.get("big")
    assert state is not None and state.upload_id == "u1" and state.parts == {"1": "abc"}
    restored.finish("big")
    assert restored.snapshot() == {}


def test_part_size_respects_the_ten_thousand_parts_limit() -> None:
    assert part_size_for(100 * MIB, 16 * MIB) == 16 * MIB
    assert part_size_for(1, 1) == 5 * MIB
    assert part_size_for(1_000_000 * MIB, 16 * MIB) == 100 * MIB


def test_multipart_etag_from_part_etags() -> None:
    parts = [hashlib.md5(b"a").hexdigest(), hashlib.md5(b"b").hexdigest()]
    combined = hashlib.md5(bytes.fromhex(parts[0]) + bytes.fromhex(parts[1])).hexdigest()
    assert multipart_etag([f'"{parts[0]}"', parts[1]]) == f"{combined}-2"


class _Written:
    def __init__(self, size: int, etag: str) -> None:
        from lib.leaves.records import ObjectRecord
        from lib.stores.protocol import ObjectInfo

        self.info = ObjectInfo(ObjectRecord(bucket="t", key="k", size=size, etag=etag))

    def get(self, bucket: str) -> "_Written":
        return self

    def head(self, key: str) -> object:
        return self.info


def written_problem(
    head_etag: str, source_etag: str | None, expected_etag: str, copied: Any
) -> str | None:
    """What s3-repair's check after a write finds, when a HEAD would answer `head_etag`."""
    from lib.leaves.records import ObjectRecord
    from lib.pipelines.copier import SourceInfo
    from lib.pipelines.repair import RepairPipeline

    pipeline = object.__new__(RepairPipeline)
    pipeline.target = Location("s3", "t")
    pipeline.verifier = type("V", (), {"stores": _Written(10, head_etag)})()  # type: ignore[assignment]
    return pipeline._written_problem(
        "k",
        SourceInfo(10, source_etag, None),
        ObjectRecord(bucket="s", key="k", size=10, etag=expected_etag),
        copied,
    )


@pytest.mark.parametrize(
    ("server_etag", "expected_etag", "problem"),
    [
        ("abc-2", "whole", None),  # S3: the multipart ETag of the parts sent
        ("whole", "whole", None),  # rclone: the whole content's MD5, as the manifest said
        ("other", "whole", "ETag is other"),
        ("abc-3", "whole", "ETag is abc-3"),
    ],
)
def test_verification_after_a_multipart_upload(
    server_etag: str, expected_etag: str, problem: str | None
) -> None:
    from lib.pipelines.copier import Copied

    found = written_problem(
        server_etag, None, expected_etag, Copied("multipart_upload", 10, "abc-2")
    )
    assert (found is None) if problem is None else (found is not None and problem in found)


@pytest.mark.parametrize(
    ("reported", "head_etag", "problem"),
    [
        ("abc", "other", None),  # the write's answer proves it: the HEAD is not asked
        (None, "abc", None),  # no answer: the HEAD verifies
        (None, "other", "ETag is other"),
        ("xyz", "xyz", "ETag is xyz"),  # the server wrote other bytes: the HEAD finds out
    ],
)
def test_a_write_whose_answer_carries_the_md5_needs_no_head(
    reported: str | None, head_etag: str, problem: str | None
) -> None:
    from lib.pipelines.copier import Copied

    found = written_problem(head_etag, "abc", "abc", Copied("copy", 10, "abc", reported))
    assert (found is None) if problem is None else (found is not None and problem in found)
    assert not Copied("multipart_copy", 10, "abc-2", "abc-2").confirmed()
