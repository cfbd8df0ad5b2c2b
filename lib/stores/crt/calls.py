"""The plain values a call to the engine carries (no awscrt here: cheap to import)."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from lib.stores.crt.answers import Answer

Reader = Callable[[Answer], Any]


@dataclass(frozen=True)
class Upload:
    """A multipart upload the parts go to."""

    bucket: str
    key: str
    upload_id: str


@dataclass(frozen=True)
class Limits:
    """A call's own bounds instead of the engine's: how long an answer may stall, how
    many attempts (1: the caller retries itself, as lib/stores/transfer.py's Retrier does)."""

    stall_s: float | None = None
    attempts: int | None = None


NO_LIMITS = Limits()


class Sink(Protocol):
    """Where a GET's body goes, chunk by chunk, instead of into memory. A sink that
    returns False from write takes no more: the engine stops the download and fails the
    call with BodyRefused (not retried)."""

    def write(self, chunk: bytes) -> bool | None: ...

    def reset(self) -> None:
        """Forget what was written: the body is about to be sent again (a retry)."""


@dataclass(slots=True)
class Call:
    """One logical request, over all its attempts."""

    operation: str
    method: str
    bucket: str
    key: str
    read: Reader
    query: str = ""  # encoded, without "?"
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None
    sink: Sink | None = None
    nbytes: int = 0  # bytes expected to move, for the adaptive timeouts
    error_in_200: bool = False  # copies: a 200 whose body is <Error> failed
    # HEADs: the result when the object does not exist (a 404, NoSuchKey or NoSuchVersion),
    # instead of failing with the ClientError; None: it fails.
    if_missing: Callable[[], Any] | None = None
    # The result when the call fails for good (retries spent, or `read` raised), instead
    # of failing with the error; what it raises ends the call.
    if_failed: Callable[[Exception], Any] | None = None
    limits: Limits = NO_LIMITS
    attempt: int = 0
    finished: bool = False  # the engine is done with it (its future ended, or it was cancelled)
    future: concurrent.futures.Future[Any] = field(default_factory=concurrent.futures.Future)
