"""One guard for every local read, write and delete: keys stay inside their directory."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from lib.io import localpath
from lib.io.checkpoint import Checkpoint, CheckpointLock, CheckpointState
from lib.io.localpath import LocalRoot, RefusedPath, key_problem
from lib.leaves.errors import FatalError


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("a/b", None),
        ("..", "'..' segment"),
        ("../x", "'..' segment"),
        ("a/../../x", "'..' segment"),
        ("/abs", "absolute"),
        ("a//b", "empty"),
        ("a/./b", "'.'"),
        ("a/", "empty"),
        ("a\0b", "NUL"),
    ],
)
def test_key_problems(key: str, problem: str | None) -> None:
    found = key_problem(key)
    assert (found is None) if problem is None else (found is not None and problem in found)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """root/ with a file, a symlinked directory and a symlinked file pointing outside."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    inside = tmp_path / "root"
    (inside / "d").mkdir(parents=True)
    (inside / "d" / "f.txt").write_bytes(b"inside")
    (inside / "link").symlink_to(outside)
    (inside / "d" / "link.txt").symlink_to(outside / "secret.txt")
    return inside


OPERATIONS = {
    "stat": lambda files, key: files.stat(key),
    "open": lambda files, key: files.open(key).close(),
    "write": lambda files, key: files.write(key, [b"overwritten"]),
    "remove": lambda files, key: files.remove(key),
}


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("../outside/secret.txt", "'..'"),
        ("d/../../outside/secret.txt", "'..'"),
        ("/outside/secret.txt", "absolute"),
        ("link/secret.txt", "link is a symlink"),
        ("d/link.txt", "d/link.txt is a symlink"),
    ],
)
def test_no_operation_leaves_the_directory(root: Path, operation: str, key: str, why: str) -> None:
    with pytest.raises(RefusedPath, match=why):
        OPERATIONS[operation](LocalRoot(str(root)), key)
    secret = root.parent / "outside" / "secret.txt"
    assert secret.read_bytes() == b"secret"
    assert (root / "link").is_symlink() and (root / "d" / "link.txt").is_symlink()


def test_reads_and_writes_inside_the_directory(root: Path) -> None:
    files = LocalRoot(str(root))
    info = files.stat("d/f.txt")
    assert info is not None and info.st_size == 6
    assert files.stat("d/none") is None and files.stat("d/f.txt/x") is None
    with files.open("d/f.txt") as handle:
        assert handle.read() == b"inside"
    assert files.write("new/dir/g.txt", [b"ab", b"c"]) == (3, hashlib.md5(b"abc").hexdigest())
    assert (root / "new" / "dir" / "g.txt").read_bytes() == b"abc"


def test_a_symlink_planted_at_the_old_temp_name_is_not_written_through(root: Path) -> None:
    (root / "d" / ".g.txt.s3deep-partial").symlink_to(root.parent / "outside" / "secret.txt")
    LocalRoot(str(root)).write("d/g.txt", [b"data"])
    assert (root.parent / "outside" / "secret.txt").read_bytes() == b"secret"
    assert not (root / "d" / "g.txt").is_symlink()
    assert (root / "d" / "g.txt").read_bytes() == b"data"


def test_a_symlink_at_the_temp_name_itself_is_refused_not_followed(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(localpath.secrets, "token_hex", lambda n: "fixed")
    (root / "d" / ".g.txt.fixed.s3deep-partial").symlink_to(root.parent / "outside" / "new")
    with pytest.raises(FileExistsError):
        LocalRoot(str(root)).write("d/g.txt", [b"data"])
    assert not (root.parent / "outside" / "new").exists()
    assert not (root / "d" / "g.txt").exists()


def test_a_failed_write_leaves_no_partial_file(tmp_path: Path) -> None:
    def chunks() -> object:
        yield b"first"
        raise OSError("network gone")

    with pytest.raises(OSError, match="network gone"):
        LocalRoot(str(tmp_path)).write("d/f", chunks())  # type: ignore[arg-type]
    assert list((tmp_path / "d").iterdir()) == []


def test_remove_takes_away_only_the_directories_it_emptied(tmp_path: Path) -> None:
    files = LocalRoot(str(tmp_path))
    (tmp_path / "spool" / "incoming").mkdir(parents=True)
    (tmp_path / "spool" / "empty-before").mkdir()
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "f").write_bytes(b"x")
    (tmp_path / "top").write_bytes(b"x")
    assert files.remove("spool/incoming/gone.txt") is False
    assert (tmp_path / "spool" / "incoming").is_dir()
    assert files.remove("a/b/f") is True
    assert not (tmp_path / "a").exists()
    assert files.remove("top") is True
    assert tmp_path.is_dir() and (tmp_path / "spool" / "empty-before").is_dir()


def test_checkpoint_save_never_writes_through_a_planted_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    path = tmp_path / "job.ck"
    for name in ("job.ck.tmp", f"job.ck.{os.getpid()}.tmp"):
        (tmp_path / name).symlink_to(victim)
    checkpoint = Checkpoint(str(path), "s3-test", {})
    checkpoint.save(CheckpointState(stage="s3-test", fingerprint=checkpoint.fingerprint))
    assert victim.read_bytes() == b"precious"
    assert not path.is_symlink() and b"s3-test" in path.read_bytes()


def test_the_lock_file_is_never_opened_through_a_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (tmp_path / "job.ck.lock").symlink_to(victim)
    with pytest.raises(FatalError, match="symlink"):
        CheckpointLock(str(tmp_path / "job.ck")).acquire()
    assert victim.read_bytes() == b"precious"


def test_a_held_lock_names_its_holder(tmp_path: Path) -> None:
    first = CheckpointLock(str(tmp_path / "job.ck"))
    first.acquire()
    try:
        with pytest.raises(FatalError, match=f"in use by another run \\(pid {os.getpid()} on "):
            CheckpointLock(str(tmp_path / "job.ck")).acquire()
    finally:
        first.release()
    second = CheckpointLock(str(tmp_path / "job.ck"))
    second.acquire()
    second.release()
