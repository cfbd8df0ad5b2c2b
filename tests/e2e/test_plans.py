"""The console scripts hand their options to the plan functions: a rerun on the same
checkpoint with one option changed is refused (exit 2, naming it), for each stage."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

Run = Callable[..., subprocess.CompletedProcess[bytes]]


@pytest.fixture(scope="module")
def world(run_cli: Run, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A source tree, a target missing one of its files, a manifest and a check of it."""
    tmp_path = tmp_path_factory.mktemp("world")
    source, target = tmp_path / "source", tmp_path / "target"
    for root, names in ((source, ("a.txt", "b.txt")), (target, ("a.txt",))):
        root.mkdir()
        for name in names:
            (root / name).write_text(name)
    manifest, checks = tmp_path / "src.ndjson", tmp_path / "chk.ndjson"
    assert run_cli("s3-manifest", source, "-q", "-o", manifest).returncode == 0
    assert run_cli("s3-check", target, "-q", "-i", manifest, "-o", checks).returncode == 1
    return {
        "SRC": str(source),
        "TGT": str(target),
        "MANIFEST": str(manifest),
        "CHECKS": str(checks),
    }


# stage, its arguments, the exit code of the first run, an option to add, what it changes
CASES = [
    ("s3-manifest", ["SRC"], 0, ["--include", "*.txt"], "include"),
    ("s3-check", ["TGT", "-i", "MANIFEST"], 1, ["--mode", "head"], "mode"),
    ("s3-repair", ["TGT", "--from", "SRC", "-i", "CHECKS", "--dry-run"], 0, ["--status",
     "missing"], "status"),
    ("s3-delete", ["TGT", "-i", "CHECKS", "--status", "missing", "--dry-run"], 0,
     ["--max-delete", "1"], "max_delete"),
]  # fmt: skip


@pytest.mark.parametrize(("stage", "args", "code", "more", "changed"), CASES)
def test_a_rerun_with_another_option_is_refused(
    run_cli: Run,
    world: dict[str, str],
    tmp_path: Path,
    stage: str,
    args: list[str],
    code: int,
    more: list[str],
    changed: str,
) -> None:
    command = [
        stage,
        *(world.get(arg, arg) for arg in args),
        *("-q", "-o", tmp_path / "out.ndjson", "--checkpoint", tmp_path / "run.ck"),
    ]
    first = run_cli(*command)
    assert first.returncode == code, first.stderr
    other = run_cli(*command, *more)
    assert other.returncode == 2, other.stderr
    assert f"other arguments (differs in: {changed})".encode() in other.stderr, other.stderr
