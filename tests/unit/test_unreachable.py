"""A wrong endpoint fails on the first request; once the endpoint has answered, the
same refusal is a server restarting and botocore's retries decide."""

from __future__ import annotations

import time

import botocore.exceptions
import pytest

from lib.leaves.errors import FatalError
from lib.stores import s3

ENDPOINT = "http://127.0.0.1:9"  # for the tests that send nothing


def test_the_first_request_to_a_refusing_endpoint_is_not_retried(
    monkeypatch: pytest.MonkeyPatch, refused_endpoint: str
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "a")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "b")
    monkeypatch.setattr(s3, "_SESSIONS", {})  # moto's mocks hook sessions made after it
    endpoint = refused_endpoint
    client = s3.make_client(s3.S3Config(endpoint_url=endpoint, region="us-east-1"))
    sent: list[str] = []
    client.meta.events.register("before-send.s3", lambda **_: sent.append("try"))
    started = time.monotonic()
    with pytest.raises(FatalError) as raised:
        client.head_bucket(Bucket="b")
    assert time.monotonic() - started < 2 and sent == ["try"]
    assert raised.value.message == f"cannot connect to {endpoint}: connection refused"
    assert raised.value.hint and "--endpoint-url" in raised.value.hint


def test_after_an_answer_a_refusal_is_left_to_the_retries() -> None:
    endpoint = ENDPOINT + "/answered-once"
    check = s3._fail_fast_until_answered(endpoint)
    refused = botocore.exceptions.EndpointConnectionError(
        endpoint_url=endpoint, error=ConnectionRefusedError(111, "Connection refused")
    )
    with pytest.raises(FatalError):
        check(response=None, caught_exception=refused)
    check(response=(object(), {}), caught_exception=None)
    check(response=None, caught_exception=refused)  # no FatalError: botocore retries


def test_a_reset_is_retried_even_before_any_answer() -> None:
    check = s3._fail_fast_until_answered(ENDPOINT + "/never-answered")
    reset = botocore.exceptions.ConnectionClosedError(endpoint_url="http://x")
    check(response=None, caught_exception=reset)


def test_user_and_password_in_the_endpoint_are_not_shown() -> None:
    error = s3.unreachable("http://user:secret@127.0.0.1:9/", ValueError("no"))
    assert "secret" not in error.message and "127.0.0.1:9" in error.message
