"""EngineRequests answers as the botocore calls the S3 store made before it: same
arguments, same results, the client's timeout and attempts kept."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from lib.stores.crt.engine import Engine
from lib.stores.crt.requests import EngineRequests, engine_requests
from lib.stores.s3 import S3Config, make_client
from lib.stores.transfer import TransferError


@pytest.fixture
def requests(s3_server: str) -> Iterator[tuple[EngineRequests, Any]]:
    objects = EngineRequests(lambda: Engine.for_config(S3Config(endpoint_url=s3_server)))
    yield objects, make_client(S3Config(endpoint_url=s3_server))
    objects.close()


def test_each_request_answers_as_botocore_did(
    requests: tuple[EngineRequests, Any], bucket: str, s3_client: Any
) -> None:
    objects, client = requests
    data = b"0123456789" * 700_000  # 7 MB: a 5 MiB part and the rest
    params = {"Bucket": bucket, "Key": "a b+c", "ContentType": "text/csv",
              "Metadata": {"team": "ops"}, "StorageClass": "STANDARD_IA"}  # fmt: skip
    etag = objects.put(client, params, data)
    assert etag == hashlib.md5(data).hexdigest()
    ours = objects.head(client, bucket, "a b+c", ChecksumMode="ENABLED")
    theirs = client.head_object(Bucket=bucket, Key="a b+c", ChecksumMode="ENABLED")
    assert ours is not None
    for name in (
        "ContentLength",
        "ETag",
        "LastModified",
        "ContentType",
        "Metadata",
        "StorageClass",
    ):
        assert ours[name] == theirs[name], name
    assert objects.head(client, bucket, "absent") is None
    assert objects.get(client, bucket, "a b+c").read() == data
    assert objects.get_range(client, bucket, "a b+c", 5, 10) == data[5:15]
    assert objects.get_range(client, bucket, "a b+c", 7, 2_000_000) == data[7:2_000_007]
    with pytest.raises(TransferError):
        objects.get_range(client, bucket, "a b+c", len(data) - 5, 10)

    copy = {"Bucket": bucket, "Key": "copy", "CopySource": {"Bucket": bucket, "Key": "a b+c"},
            "MetadataDirective": "COPY"}  # fmt: skip
    assert objects.copy(client, copy) == etag
    assert s3_client.head_object(Bucket=bucket, Key="copy")["Metadata"] == {"team": "ops"}

    upload = s3_client.create_multipart_upload(Bucket=bucket, Key="parts")["UploadId"]
    part = {"Bucket": bucket, "Key": "parts", "UploadId": upload}
    half = 5 * 1024 * 1024
    first = objects.upload_part(client, {**part, "PartNumber": 1}, data[:half])
    second = objects.upload_part_copy(
        client, {**part, "PartNumber": 2}, {"Bucket": bucket, "Key": "a b+c"}, (half, len(data))
    )
    assert first == hashlib.md5(data[:half]).hexdigest()
    assert second == hashlib.md5(data[half:]).hexdigest()


def test_a_parameter_the_engine_does_not_send_is_refused(
    requests: tuple[EngineRequests, Any], bucket: str
) -> None:
    objects, client = requests
    with pytest.raises(ValueError, match="SSECustomerKey"):
        objects.put(client, {"Bucket": bucket, "Key": "k", "SSECustomerKey": "x"}, b"")


def test_the_clients_timeout_and_attempts_bound_the_request(
    requests: tuple[EngineRequests, Any], s3_server: str
) -> None:
    objects, _ = requests
    quick = make_client(S3Config(endpoint_url=s3_server), read_timeout=2, max_attempts=1)
    limits = objects.limits(quick)
    assert (limits.stall_s, limits.attempts) == (
        2.0,
        quick.meta.config.retries["total_max_attempts"],
    )


def test_the_engine_is_the_default_and_botocore_can_be_asked_for(
    s3_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = S3Config(endpoint_url=s3_server)
    objects = engine_requests(config, 4)
    assert isinstance(objects, EngineRequests)
    assert objects._engine is None  # made by the first request, not before
    assert objects.engine.window.limit == 4
    objects.close()
    monkeypatch.setenv("S3DEEP_ENGINE", "botocore")
    assert engine_requests(config, 4) is None


def test_a_head_reads_its_answer_on_the_engine_and_a_missing_key_is_none(
    requests: tuple[EngineRequests, Any], bucket: str, s3_client: Any
) -> None:
    objects, client = requests
    s3_client.put_object(Bucket=bucket, Key="here", Body=b"abc")

    def size(found: dict[str, Any] | None) -> int | None:
        return None if found is None else int(found["ContentLength"])

    assert objects.head_async(client, bucket, "here", read=size).result() == 3
    assert objects.head_async(client, bucket, "absent", read=size).result() is None
    assert objects.head_async(client, bucket, "absent").result() is None
    assert objects.head_async(client, bucket, "here").result()["ContentLength"] == 3

    def fails(found: dict[str, Any] | None) -> int:
        raise LookupError(f"read {found is None}")

    with pytest.raises(LookupError, match="read False"):
        objects.head_async(client, bucket, "here", read=fails).result()
    with pytest.raises(LookupError, match="read True"):
        objects.head_async(client, bucket, "absent", read=fails).result()


def test_a_failed_head_ends_with_what_failed_makes_of_its_error(
    requests: tuple[EngineRequests, Any], bucket: str, s3_client: Any, refused_endpoint: str
) -> None:
    """`failed` turns the error of a HEAD (or of its read) into the future's result, on the
    engine's thread; what failed raises ends the future; a missing key is not a failure."""
    objects, client = requests
    s3_client.put_object(Bucket=bucket, Key="here", Body=b"abc")

    def described(error: Exception) -> str:
        return f"failed: {type(error).__name__}"

    def headers(found: dict[str, Any] | None) -> Any:
        return found if found is None else found["content-length"]

    def fails(found: dict[str, Any] | None) -> int:
        raise LookupError("read")

    def refuses(error: Exception) -> str:
        raise RuntimeError(f"stop: {error}")

    closed = S3Config(endpoint_url=refused_endpoint)
    refused = EngineRequests(lambda: Engine.for_config(closed))
    try:
        assert refused.head_async(make_client(closed), bucket, "k", read=headers, raw=True,
                                  failed=described).result() == "failed: Unreachable"  # fmt: skip
    finally:
        refused.close()
    assert objects.head_async(client, bucket, "here", read=fails,
                              failed=described).result() == "failed: LookupError"  # fmt: skip
    assert objects.head_async(client, bucket, "here", read=headers, raw=True,
                              failed=described).result() == "3"  # fmt: skip
    assert objects.head_async(client, bucket, "absent", read=headers, raw=True,
                              failed=described).result() is None  # fmt: skip
    with pytest.raises(RuntimeError, match="stop: read"):
        objects.head_async(client, bucket, "here", read=fails, failed=refuses).result()


def test_the_engines_threads_keep_their_python_state_between_callbacks(
    requests: tuple[EngineRequests, Any], bucket: str, s3_client: Any
) -> None:
    """awscrt's event-loop threads enter Python once per callback; the engine keeps each
    one's thread state, so what a callback leaves in a threading.local is there for the
    next (it was not: each callback ran in a new thread state, made and freed again)."""
    objects, client = requests
    s3_client.put_object(Bucket=bucket, Key="here", Body=b"abc")
    local = threading.local()
    seen: list[tuple[int, int | None]] = []

    def read(found: dict[str, Any] | None) -> None:
        ident = threading.get_ident()
        seen.append((ident, getattr(local, "ident", None)))
        local.ident = ident

    for _ in range(6):  # one at a time: on one kept-alive connection, one loop thread
        objects.head_async(client, bucket, "here", read=read).result()
    main = threading.get_ident()
    assert all(ident != main for ident, _ in seen)
    assert sum(1 for ident, earlier in seen if earlier == ident) >= 4, seen


def test_the_engine_makes_one_client_for_its_credentials_and_its_addresses(
    s3_server: str, bucket: str
) -> None:
    made: list[str | None] = []

    def make(region: str | None) -> Any:
        made.append(region)
        return make_client(S3Config(endpoint_url=s3_server, region=region))

    engine = Engine(make)
    try:
        address = engine.addresses.get(bucket)
        assert address.path("k").endswith(f"{bucket}/k")
        assert made == [None]
    finally:
        engine.close()


@pytest.mark.parametrize(
    "headers",
    [
        {"etag": '"69d7f33fcabe7db767a791b2c113136f"', "content-length": "133",
         "last-modified": "Mon, 30 Nov 2026 21:39:06 GMT", "content-type": "text/plain"},
        {"etag": '"d41d8cd98f00b204e9800998ecf8427e-3"', "content-length": "0",
         "last-modified": "Tue, 01 Dec 2026 00:00:59 GMT", "x-amz-storage-class": "GLACIER",
         "x-amz-version-id": "v1", "x-amz-mp-parts-count": "3",
         "x-amz-checksum-crc64nvme": "AAAAAAAAAAA=", "x-amz-checksum-crc32": "AAAAAA==",
         "x-amz-checksum-type": "FULL_OBJECT", "x-amz-server-side-encryption": "aws:kms",
         "x-amz-meta-team": "ops"},
        {"etag": "", "content-length": "", "last-modified": "not a date",
         "x-amz-storage-class": "", "x-amz-version-id": "", "x-amz-checksum-sha256": "",
         "x-amz-server-side-encryption": "AES256"},
        {},
    ],
)  # fmt: skip
def test_info_from_the_headers_is_what_botocores_response_gives(headers: dict[str, str]) -> None:
    """The engine's HEADs skip botocore's response dict (info_from_headers): the same
    ObjectInfo as info_from_head of that dict, empty and odd values included."""
    from lib.stores.crt.answers import Answer, object_response
    from lib.stores.s3store import info_from_head, info_from_headers

    through_botocore = info_from_head("b", "k", object_response(Answer(200, headers, b"")))
    assert info_from_headers("b", "k", headers) == through_botocore
