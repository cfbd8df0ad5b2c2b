"""Usage errors of every stage, through typer's CliRunner (no subprocess, no server):
exit 2, nothing on stdout, the reason on stderr, no traceback, nothing contacted."""

from __future__ import annotations

import importlib

import pytest
from typer.testing import CliRunner

runner = CliRunner()

# (stage, arguments, what stderr must say); all before any request is sent.
USAGE_ERRORS = [
    ("check", ["s3://b/", "--mode", "bogus"], "--mode must be one of list, head, read"),
    ("check", ["s3://b/", "--mode", "head", "--parallel", "2"], "--parallel applies to list"),
    ("check", ["s3://b/", "--status", "nope"], "unknown --status nope"),
    ("check", ["s3://b/", "--concurrency", "0"], "Invalid value for '--concurrency'"),
    ("check", ["s3://b/", "--shard", "3/2"], "--shard 3/2: K must satisfy 0 <= K < N"),
    ("check", ["gs://b/"], "unsupported location 'gs://b/'"),
    ("check", ["s3://"], "no bucket in 's3://'"),
    ("check", [], "list mode without TARGET needs the input's header"),
    ("repair", [], "Missing argument 'TARGET'"),
    ("repair", ["s3://b/"], "Missing option '--from'"),
    ("repair", ["s3://b/", "--from", "gs://a/"], "unsupported location 'gs://a/'"),
    ("repair", ["s3://b/", "--from", "s3://a/", "--status", "nope"], "unknown --status nope"),
    ("repair", ["s3://b/", "--from", "s3://a/", "--concurrency", "0"], "'--concurrency'"),
    ("repair", ["s3://b/", "--from", "s3://a/", "--part-size", "1"], "'--part-size'"),
    ("delete", [], "Missing argument 'SCOPE'"),
    ("delete", ["gs://b/"], "unsupported location 'gs://b/'"),
    ("delete", ["s3://b/", "--status", "nope"], "unknown --status nope"),
    ("delete", ["s3://b/", "--batch-size", "0"], "Invalid value for '--batch-size'"),
    ("delete", ["s3://b/", "--batch-size", "1001"], "Invalid value for '--batch-size'"),
    ("delete", ["s3://b/", "--concurrency", "0"], "Invalid value for '--concurrency'"),
    ("delete", ["s3://b/", "--shard", "2/1"], "--shard 2/1: K must satisfy 0 <= K < N"),
]


@pytest.mark.parametrize(
    ("stage", "args", "reason"),
    USAGE_ERRORS,
    ids=[f"{stage} {' '.join(args)}" for stage, args, _ in USAGE_ERRORS],
)
def test_usage_error_is_exit_2_with_the_reason(stage: str, args: list[str], reason: str) -> None:
    app = importlib.import_module(f"stages.{stage}").app
    result = runner.invoke(app, args, input=b"")
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    assert reason in result.stderr
    assert "Traceback" not in result.stderr
