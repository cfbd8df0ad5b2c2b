from __future__ import annotations

import pytest

from lib.leaves.errors import UsageError, redact
from lib.stores.s3 import without_userinfo


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("http://AKID:SECRET@host:9000/b", "http://***@host:9000/b"),
        ('to "https://user@host/x?y"', 'to "https://***@host/x?y"'),
        ("http://a:p@ss@host", "http://***@host"),
        ("s3://bucket/key@at", "s3://bucket/key@at"),
        ("mail me@example.com", "mail me@example.com"),
    ],
)
def test_redact_hides_the_userinfo_of_urls(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_stage_errors_never_hold_a_password() -> None:
    error = UsageError("cannot read http://u:SECRET@h/x", hint="see http://u:SECRET@h/")
    assert "SECRET" not in error.message + str(error) + (error.hint or "")


def test_the_endpoint_handed_to_botocore_has_no_userinfo() -> None:
    assert without_userinfo("http://AK:SE@127.0.0.1:9000") == "http://127.0.0.1:9000"
    assert without_userinfo("https://s3.example.com") == "https://s3.example.com"


@pytest.mark.parametrize("json_format", [False, True])
def test_notes_on_stderr_never_hold_a_password(json_format: bool) -> None:
    """Notes reach stderr through the text progress or the JSON log; both hide it."""
    import io

    from lib.engine.logs import JsonProgress
    from lib.engine.progress import Progress

    stream = io.StringIO()
    kind = JsonProgress if json_format else Progress
    kind("s3-check", "checked", enabled=True, quiet=False, stream=stream).message(
        "read http://user:hunter2@127.0.0.1:9/list.ndjson"
    )
    assert "hunter2" not in stream.getvalue() and "***" in stream.getvalue()
