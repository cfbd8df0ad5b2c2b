"""Read mode's one-GET path keeps a small object's body in memory: never more than its
limit (past it, write says stop), and from scratch again when the engine retries."""

from lib.pipelines.check_objects import BodyBuffer


def test_a_body_within_the_limit_is_kept_whole() -> None:
    body = BodyBuffer(10)
    for chunk in (b"abc", b"defg", b"hij"):
        body.write(chunk)
    assert body.whole and body.data() == b"abcdefghij"


def test_a_body_past_the_limit_is_refused_not_kept() -> None:
    body = BodyBuffer(10)
    assert [body.write(chunk) for chunk in (b"abcdef", b"ghijkl")] == [True, False]
    assert body.kept == 6 and body.received == 12
    assert not body.whole and body.data() is None


def test_a_retry_starts_the_body_over() -> None:
    body = BodyBuffer(10)
    body.write(b"abcdefghijk")  # a first attempt, cut or too long
    body.reset()
    body.write(b"xyz")
    assert body.whole and body.data() == b"xyz"
