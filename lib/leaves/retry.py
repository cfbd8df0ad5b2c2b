"""One vocabulary for failed S3 requests: what a retry may fix, how long to wait
before one, when to give up, and how a failure reads in a record or on stderr.

botocore retries most requests itself (standard mode); these are for the loops
that retry on their own (DeleteObjects answers, adaptive-timeout transfers) and
for deciding, once botocore gave up, whether the run stops (exit 3) or one
record fails.
"""

from __future__ import annotations

import random
import time

from lib.leaves.errors import FatalError

# Error codes that no retry and no other key can fix: the whole run stops (exit 3).
CREDENTIAL_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
        "NoSuchBucket",
        "AllAccessDisabled",
    }
)
# The server asks to slow down: fewer requests in flight, then a retry.
THROTTLE_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "503"}
)
# Codes (or HTTP statuses) a later attempt of the same request may not meet again.
RETRYABLE_CODES = THROTTLE_CODES | {
    "InternalError", "ServiceUnavailable", "RequestTimeout", "500", "502", "504",
}  # fmt: skip


class Unreachable(FatalError):
    """The first connection to an endpoint was refused or its name did not resolve."""


def error_code(exc: BaseException) -> str | None:
    """The S3 error code of a botocore ClientError (or its HTTP status), else None."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(code or status or "") or None


def retryable(exc: Exception) -> bool:
    """Throttling, a 5xx or a network failure: the same request may pass later."""
    import botocore.exceptions

    if isinstance(exc, Unreachable):
        return True  # a network failure like the others, whose retries need not be spent
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        return error.get("Code") in RETRYABLE_CODES or status in RETRYABLE_CODES
    return isinstance(
        exc,
        botocore.exceptions.ConnectionError
        | botocore.exceptions.HTTPClientError
        | botocore.exceptions.ReadTimeoutError
        | TimeoutError
        | ConnectionError,
    )


def backoff(attempt: int, *, base_s: float = 0.1, cap_s: float = 5.0) -> None:
    """Sleeps before retry number `attempt`: full jitter up to base_s * 2**attempt."""
    time.sleep(backoff_s(attempt, base_s=base_s, cap_s=cap_s))


def backoff_s(attempt: int, *, base_s: float = 0.1, cap_s: float = 5.0) -> float:
    """How long to wait before retry number `attempt` (for callers that cannot sleep)."""
    return random.uniform(0, min(cap_s, base_s * 2**attempt))


def translate_error(exc: Exception, operation: str, where: str) -> Exception:
    """Turns a botocore exception into one clear FatalError line; others pass through."""
    import botocore.exceptions

    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code") or str(
            exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        )
        message = error.get("Message") or ""
        hints = {
            "NoSuchBucket": "check the bucket name and --endpoint-url/--region",
            "AccessDenied": "check the credentials and the bucket policy",
            "InvalidAccessKeyId": "check the credentials (AWS_PROFILE, --profile)",
            "SignatureDoesNotMatch": "check the secret key for these credentials",
            "ExpiredToken": "refresh the session credentials",
            "InvalidToken": "refresh the session credentials",
        }
        detail = f"{code}: {message}" if message else code
        return FatalError(f"{operation} {where} failed: {detail}", hint=hints.get(code))
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return FatalError(
            f"{operation} {where}: no AWS credentials found",
            hint="set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or --profile",
        )
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return FatalError(f"{operation} {where} failed: {exc}")
    return exc


def exhausted(exc: Exception, operation: str, where: str) -> FatalError:
    """The fatal error for a request whose retries are all spent (throttling, 5xx, network)."""
    if isinstance(exc, Unreachable):
        return exc
    error = translate_error(exc, operation, where)
    message = error.message if isinstance(error, FatalError) else f"{operation} {where}: {exc}"
    return FatalError(
        f"{message} (retries exhausted)",
        hint="rerun the same command (with --checkpoint) to resume",
    )


def request_failed(exc: Exception, operation: str, where: str) -> Exception:
    """What stops the run when a request that has no per-record answer failed (a
    listing page): spent retries say how to resume, anything else says what failed."""
    if retryable(exc):
        return exhausted(exc, operation, where)
    return translate_error(exc, operation, where)


def stops_the_run(exc: Exception, operation: str, where: str) -> Exception | None:
    """For a request about one object: the error that stops the whole run (refused
    credentials, spent retries), or None when only this object's record fails."""
    if error_code(exc) in CREDENTIAL_CODES:
        return translate_error(exc, operation, where)
    if retryable(exc):
        return exhausted(exc, operation, where)
    return None


def describe(exc: BaseException) -> str:
    """A failure as one record's `detail` or `error`: `Code: Message`, or the exception."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return f"{error.get('Code', '?')}: {error.get('Message', '')}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"
