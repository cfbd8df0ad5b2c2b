"""Exit codes and the exceptions that map onto them (DESIGN.md, "Exit codes")."""

from __future__ import annotations

from enum import IntEnum


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
        super().__init__(message)
        self.message = message
        self.hint = hint


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
