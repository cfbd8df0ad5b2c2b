"""One vocabulary for failed S3 requests (lib/leaves/retry.py), whichever stage meets them."""

from __future__ import annotations

import botocore.exceptions
import pytest

from lib.leaves.errors import FatalError
from lib.leaves.retry import RETRYABLE_CODES, describe, retryable, stops_the_run


def client_error(code: str, status: int) -> botocore.exceptions.ClientError:
    response = {
        "Error": {"Code": code, "Message": "a message"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return botocore.exceptions.ClientError(response, "HeadObject")


@pytest.mark.parametrize("code", ["ThrottlingException", "RequestLimitExceeded", "SlowDown"])
def test_throttling_is_retried_by_every_stage_alike(code: str) -> None:
    """Before, s3-delete retried ThrottlingException and RequestLimitExceeded and the
    other stages (lib/stores/s3.py's own list) did not."""
    assert code in RETRYABLE_CODES
    assert retryable(client_error(code, 400))


def test_a_5xx_is_retried_whatever_its_code() -> None:
    assert retryable(client_error("Whatever", 502))
    assert not retryable(client_error("NoSuchKey", 404))


def test_one_object_failure_stops_the_run_only_for_credentials_or_spent_retries() -> None:
    expired = stops_the_run(client_error("ExpiredToken", 400), "HeadObject", "s3://b/k")
    assert isinstance(expired, FatalError) and "ExpiredToken" in expired.message
    spent = stops_the_run(client_error("SlowDown", 503), "HeadObject", "s3://b/k")
    assert isinstance(spent, FatalError) and spent.message.endswith("(retries exhausted)")
    assert spent.hint == "rerun the same command (with --checkpoint) to resume"
    assert stops_the_run(client_error("AccessDenied", 403), "HeadObject", "s3://b/k") is None


def test_describe_gives_code_and_message_or_the_exception() -> None:
    assert describe(client_error("AccessDenied", 403)) == "AccessDenied: a message"
    assert describe(OSError("disk gone")) == "OSError: disk gone"
