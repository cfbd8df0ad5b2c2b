"""The plain values a call to the engine carries (no awscrt here: cheap to import)."""

from __future__ import annotations

from dataclasses import dataclass


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
