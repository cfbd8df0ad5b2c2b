"""What a local walk cannot cover is an error record with the hole's key, never a skip.

An unreadable directory, an unreadable file under --md5, a file that changes while it
is hashed and a name that is not UTF-8 each become an `error` record whose `key` is
the file's key or the directory's prefix ending in `/`; the summary is then not
complete and the exit code 1 (DESIGN.md, "Completeness"). s3-check with a local
TARGET calls no expected key in such a hole `missing`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., subprocess.CompletedProcess[bytes]]
Parse = Callable[[bytes], list[dict[str, Any]]]

# Without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH even root obeys file modes.
WITHOUT_ROOTS_READ_RIGHTS = [
    "setpriv",
    "--bounding-set=-dac_override,-dac_read_search",
    "--inh-caps=-all",
    "--",
]


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for key, body in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[Callable[[Path], None]]:
    """Makes paths unreadable (mode 000) and gives them back their modes afterwards."""
    paths: list[tuple[Path, int]] = []

    def lock(path: Path) -> None:
        paths.append((path, path.stat().st_mode))
        path.chmod(0)

    yield lock
    for path, mode in paths:
        path.chmod(mode)


@pytest.fixture
def run_unprivileged(
    cli_env: dict[str, str], script_path: Callable[[str], Path]
) -> Callable[..., subprocess.CompletedProcess[bytes]]:
    """Runs a stage as root without the capabilities that let root read anything."""

    def run(name: str, *args: str | Path, input: bytes | None = None) -> Any:
        return subprocess.run(
            [*WITHOUT_ROOTS_READ_RIGHTS, str(script_path(name)), *map(str, args)],
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
            env=cli_env,
            check=False,
        )

    return run


def assert_one_hole(
    result: subprocess.CompletedProcess[bytes],
    parse_ndjson: Parse,
    body: list[tuple[str, str]],
    why: str,
) -> None:
    """Exit 1 (not 3: the rest was listed), the records between header and summary as
    (type, key), the hole's message, and a summary that is not complete."""
    assert result.returncode == 1, result.stderr
    records = parse_ndjson(result.stdout)
    assert [(r["type"], r.get("key")) for r in records[1:-1]] == body
    (hole,) = by_type(records, "error")
    assert why in hole["message"]
    assert records[-1]["complete"] is False


def by_type(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [record for record in records if record["type"] == kind]


@pytest.mark.parametrize(
    ("files", "unreadable", "body", "why"),
    [
        pytest.param(
            {"a": b"a", "private/secret": b"s", "private/more/x": b"x", "z": b"z"},
            "private",
            [("object", "a"), ("error", "private/"), ("object", "z")],
            "cannot list the directory: Permission denied",
            id="directory",
        ),
        pytest.param(  # with --md5 the file is read: it stopped the listing (exit 3)
            {"a": b"a", "b": b"unreadable", "c": b"c"},
            "b",
            [("object", "a"), ("error", "b"), ("object", "c")],
            "cannot read the file: Permission denied",
            id="file",
        ),
    ],
)
def test_unreadable_path_is_a_hole_not_a_skip_or_a_stop(
    tmp_path: Path,
    run_unprivileged: Run,
    parse_ndjson: Parse,
    locked: Callable[[Path], None],
    files: dict[str, bytes],
    unreadable: str,
    body: list[tuple[str, str]],
    why: str,
) -> None:
    root = tmp_path / "tree"
    write_tree(root, files)
    locked(root / unreadable)

    result = run_unprivileged("s3-manifest", root, "--md5")

    assert_one_hole(result, parse_ndjson, body, why)
    assert b"could not be listed" in result.stderr


@contextlib.contextmanager
def busy_file(path: Path) -> Iterator[None]:
    """A large (sparse) file whose modification time moves on every millisecond or so,
    as a log being written does, for as long as the context lasts."""
    with open(path, "wb") as handle:
        handle.truncate(64 << 20)  # hashing it takes a while, writing it does not
    stop = threading.Event()

    def keep_writing() -> None:
        stamp = 1_000_000_000
        while not stop.is_set():
            stamp += 1
            os.utime(path, (stamp, stamp))
            stop.wait(0.001)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        yield
    finally:
        stop.set()
        writer.join()


def test_a_file_changing_while_hashed_is_a_hole(
    tmp_path: Path, run_cli: Run, parse_ndjson: Parse
) -> None:
    root = tmp_path / "tree"
    write_tree(root, {"a": b"a"})
    with busy_file(root / "busy.log"):
        result = run_cli("s3-manifest", root, "--md5")

    body = [("object", "a"), ("error", "busy.log")]
    assert_one_hole(result, parse_ndjson, body, "changed while it was hashed")


def test_check_read_mode_of_a_file_changing_while_hashed_is_an_error(
    tmp_path: Path, run_cli: Run, parse_ndjson: Parse
) -> None:
    root = tmp_path / "tree"
    write_tree(root, {"a": b"a", "busy.log": bytes(64 << 20)})
    expected = run_cli("s3-manifest", root)
    assert expected.returncode == 0, expected.stderr
    with busy_file(root / "busy.log"):
        result = run_cli("s3-check", root, "--mode", "read", input=expected.stdout)

    assert result.returncode == 1, result.stderr
    checks = by_type(parse_ndjson(result.stdout), "check")
    assert [(r["key"], r["status"]) for r in checks] == [("a", "ok"), ("busy.log", "error")]
    assert "changed since it was listed or while it was hashed" in checks[1]["detail"]


def test_check_against_a_local_target_with_holes_calls_nothing_in_them_missing(
    tmp_path: Path,
    run_cli: Run,
    run_unprivileged: Run,
    parse_ndjson: Parse,
    locked: Callable[[Path], None],
) -> None:
    files = {"a": b"a", "private/secret": b"s", "private/x": b"x", "z": b"z"}
    source, target = tmp_path / "source", tmp_path / "target"
    write_tree(source, files)
    write_tree(target, files)
    with open(os.path.join(os.fsencode(target), b"caf\xe9"), "wb") as handle:
        handle.write(b"latin-1 name")
    expected = run_cli("s3-manifest", source)
    assert expected.returncode == 0, expected.stderr
    locked(target / "private")

    result = run_unprivileged("s3-check", target, input=expected.stdout)

    assert result.returncode == 1, result.stderr
    records = parse_ndjson(result.stdout)
    statuses = [(r["key"], r["status"]) for r in by_type(records, "check")]
    assert statuses == [
        ("a", "ok"),
        ("caf\\xe9", "error"),  # the name that is not UTF-8, as the hole's key
        ("private/", "error"),  # the hole itself
        ("private/secret", "error"),  # in the hole: neither missing nor ok
        ("private/x", "error"),
        ("z", "ok"),
    ]
    assert "not checked" in by_type(records, "check")[3]["detail"]
    assert records[-1]["complete"] is False
