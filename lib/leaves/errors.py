"""Exit codes and the exceptions that map onto them (DESIGN.md, "Exit codes")."""

from __future__ import annotations

import re
from enum import IntEnum

# A URL's userinfo (`scheme://user:password@`): everything between `://` and the last
# `@` before the host ends (a `/`, whitespace or a quote).
_USERINFO = re.compile(r"(?<=://)[^/\s\"'@]*(?:@[^/\s\"'@]*)*@")


def redact(text: str) -> str:
    """`text` with the user and password of every URL in it shown as `***`.

    The one function for every location or URL a stage shows or stores: messages,
    headers, checkpoints and tracebacks (DESIGN.md, "Exit codes")."""
    return _USERINFO.sub("***@", text) if "@" in text else text


class ExitCode(IntEnum):
    OK = 0
    NOT_OK = 1
    USAGE = 2
    FATAL = 3
    SIGPIPE = 141
    SIGINT = 130
    SIGTERM = 143


class StageError(Exception):
    """An error that ends a stage with one clear line on stderr and an exit code."""

    exit_code = ExitCode.FATAL

    def __init__(self, message: str, hint: str | None = None) -> None:
        message = redact(message)
        super().__init__(message)
        self.message = message
        self.hint = redact(hint) if hint else hint


class UsageError(StageError):
    exit_code = ExitCode.USAGE


class BadInput(UsageError):
    """A line of input that cannot be understood; `line` is 1-based."""

    def __init__(self, line: int, why: str, text: bytes = b"") -> None:
        super().__init__(f"line {line}: {why}")
        self.line = line
        self.why = why
        self.text = text


class FatalError(StageError):
    exit_code = ExitCode.FATAL


class Interrupted(BaseException):
    """Raised from a signal handler so the stage commits and exits 130/143."""

    def __init__(self, exit_code: ExitCode, signal_name: str) -> None:
        super().__init__(signal_name)
        self.exit_code = exit_code
        self.signal_name = signal_name
