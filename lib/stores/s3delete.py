"""S3's DeleteObjects for the S3 store: one batch, its retries, and its verbose answer.

Requests ask for the verbose answer: a key is `deleted` only when the server names
exactly it (and its version) as deleted. Keys that failed with a retryable code are
sent again (alone with the others that did); throttling tells the adaptive window.
"""

from __future__ import annotations

from typing import Any

from lib.leaves.retry import (
    CREDENTIAL_CODES,
    RETRYABLE_CODES,
    THROTTLE_CODES,
    backoff,
    error_code,
    exhausted,
    retryable,
    translate_error,
)
from lib.stores.protocol import Deletion, Window

# A whole DeleteObjects refused for these stops the run (exit 3): no other batch would pass.
FATAL_CODES = CREDENTIAL_CODES | {"AccessDenied", "403"}
MAX_ATTEMPTS = 6
DELETED = ""  # the answer for a key the server reported deleted
ANY_VERSION = "*"  # a key deleted under some version id, when none was asked for


def delete_objects(client: Any, bucket: str, deletions: list[Deletion], window: Window) -> None:
    """Deletes the keys in one DeleteObjects request (retried), setting each outcome."""
    pending = deletions
    for attempt in range(1, MAX_ATTEMPTS + 1):
        objects = [
            {"Key": d.key, "VersionId": d.version_id} if d.version_id else {"Key": d.key}
            for d in pending
        ]
        try:
            response = client.delete_objects(
                Bucket=bucket, Delete={"Objects": objects, "Quiet": False}
            )
        except Exception as exc:
            code = error_code(exc) or type(exc).__name__
            where = f"s3://{bucket}"
            if code in FATAL_CODES:
                raise translate_error(exc, "DeleteObjects", where) from None
            if code in THROTTLE_CODES:
                window.throttle()
            if not retryable(exc):
                for deletion in pending:
                    deletion.status, deletion.error = "failed", code
                return
            if attempt == MAX_ATTEMPTS:
                raise exhausted(exc, "DeleteObjects", where) from None
            backoff(attempt)
            continue
        window.success()
        answers = _answers(response)
        asked = {deletion.key for deletion in pending}
        strays = sorted({key for key, _ in answers} - asked)  # answered, never asked
        retry = []
        for deletion in pending:
            failure = answers.get((deletion.key, deletion.version_id))
            if failure is None and deletion.version_id is None:
                failure = answers.get((deletion.key, ANY_VERSION))
            if failure is None:
                deletion.status, deletion.error = "failed", _unanswered(deletion, strays)
            elif failure == DELETED:
                deletion.status, deletion.error = "deleted", None
            elif failure in RETRYABLE_CODES and attempt < MAX_ATTEMPTS:
                retry.append(deletion)
            else:
                deletion.status, deletion.error = "failed", failure
        if not retry:
            return
        if any(answers.get((d.key, d.version_id)) in THROTTLE_CODES for d in retry):
            window.throttle()
        pending = retry
        backoff(attempt)


def _answers(response: dict[str, Any]) -> dict[tuple[str, str | None], str]:
    """The verbose DeleteObjects answer: (key, version id) -> DELETED or the error code.

    A key asked without a version id is also found under ANY_VERSION: on a versioned
    bucket a server may name the delete marker's version in the answer."""
    answers: dict[tuple[str, str | None], str] = {}
    for deleted in response.get("Deleted", []):
        key, version = deleted.get("Key"), deleted.get("VersionId") or None
        answers[(key, version)] = DELETED
        answers[(key, ANY_VERSION)] = DELETED
    for error in response.get("Errors", []):
        key, version = error.get("Key"), error.get("VersionId") or None
        answers[(key, version)] = str(error.get("Code", "Error"))
    return answers


def _unanswered(deletion: Deletion, strays: list[str]) -> str:
    """Why a key the answer did not report deleted is `failed`, naming the key the answer
    reported instead when one differs from it only in spaces (as s3rver's do)."""
    asked = repr(deletion.key) + (f" version {deletion.version_id}" if deletion.version_id else "")
    alike = [key for key in strays if key.strip() == deletion.key.strip()]
    named = f"; it named {alike[0]!r}, which was not asked for" if alike else ""
    return f"the server did not report {asked} deleted{named}"
