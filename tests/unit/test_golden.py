"""Golden NDJSON pairs: each tests/golden/<pipeline>/<case>.in.ndjson goes through the
stage in-process (typer's CliRunner: the same code as the console script, without a
subprocess) against a small local world, and must give <case>.out.ndjson.

The world is two local trees with fixed modification times; `$SOURCE` and `$TARGET`
in the files stand for their paths. Fields that differ from run to run (the header's
`started`, the summary's `elapsed_s`, a repair's `ms`) are normalised. To rewrite the
.out files after a deliberate change, run with S3DEEP_GOLDEN=write and read the diff.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

GOLDEN = Path(__file__).parent.parent / "golden"
MTIME = 1767225600  # 2026-01-01T00:00:00Z
SOURCE = {"a/1.txt": b"one", "a/2.txt": b"two", "b.txt": b"three", "c/deep/4.bin": b"\x00\xff"}
TARGET = {"a/1.txt": b"one", "a/2.txt": b"TWO!", "c/deep/4.bin": b"\x00", "extra.txt": b"x"}

# (pipeline, case) -> (stage, arguments, exit code); the input is <case>.in.ndjson if any.
CASES: dict[tuple[str, str], tuple[str, list[str], int]] = {
    ("manifest", "local-tree"): ("manifest", ["$SOURCE"], 0),
    ("check", "head"): ("check", ["$TARGET", "--mode", "head"], 1),
    ("check", "list"): ("check", ["$TARGET", "--mode", "list"], 1),
    ("check", "list-status-filter"): ("check", ["$TARGET", "--status", "missing"], 1),
    ("repair", "missing-and-changed"): ("repair", ["$TARGET", "--from", "$SOURCE"], 0),
    ("delete", "extra"): ("delete", ["$TARGET", "--status", "extra"], 0),
}


def make_tree(root: Path, files: dict[str, bytes]) -> Path:
    for key, body in files.items():
        path = root.joinpath(*key.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        os.utime(path, (MTIME, MTIME))
    return root


def normalised(record: dict[str, Any]) -> dict[str, Any]:
    fixed = {"started": "<started>", "elapsed_s": 0.0, "ms": 0}
    return {key: fixed.get(key, value) for key, value in record.items()}


def world(root: Path) -> dict[str, str]:
    """The two trees under root; {placeholder: path}."""
    return {
        "$SOURCE": str(make_tree(root / "source", SOURCE)),
        "$TARGET": str(make_tree(root / "target", TARGET)),
    }


def run_case(pipeline: str, case: str, places: dict[str, str]) -> list[dict[str, Any]]:
    """Runs one case in the world of `places`; its output records, paths as placeholders."""
    stage, args, exit_code = CASES[pipeline, case]

    def fill(text: str) -> str:
        for name, path in places.items():
            text = text.replace(name, path)
        return text

    source = GOLDEN / pipeline / f"{case}.in.ndjson"
    data = fill(source.read_text()).encode() if source.exists() else None
    app = importlib.import_module(f"stages.{stage}").app
    result = CliRunner().invoke(app, [*map(fill, args), "--quiet"], input=data)
    assert result.exit_code == exit_code, result.stderr
    text = result.stdout
    for name, path in places.items():
        text = text.replace(path, name)
    return [normalised(json.loads(line)) for line in text.splitlines()]


@pytest.mark.parametrize(("pipeline", "case"), CASES, ids=[f"{p}/{c}" for p, c in CASES])
def test_golden_input_gives_golden_output(pipeline: str, case: str, tmp_path: Path) -> None:
    records = run_case(pipeline, case, world(tmp_path))
    expected_path = GOLDEN / pipeline / f"{case}.out.ndjson"
    if os.environ.get("S3DEEP_GOLDEN") == "write":
        lines = (json.dumps(record, separators=(",", ":")) for record in records)
        expected_path.write_text("".join(f"{line}\n" for line in lines))
    expected = [json.loads(line) for line in expected_path.read_text().splitlines()]
    assert records == expected


def test_every_golden_file_has_a_case() -> None:
    named = {(path.parent.name, path.name.split(".")[0]) for path in GOLDEN.rglob("*.ndjson")}
    assert named == set(CASES)


def test_repair_then_delete_leave_the_target_equal_to_the_source(tmp_path: Path) -> None:
    """The golden outputs say what was done; the tree shows that it was done."""
    places = world(tmp_path)
    run_case("repair", "missing-and-changed", places)
    run_case("delete", "extra", places)
    target = Path(places["$TARGET"])
    files = [path for path in target.rglob("*") if path.is_file()]
    assert {path.relative_to(target).as_posix(): path.read_bytes() for path in files} == SOURCE
