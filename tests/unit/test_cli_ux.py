"""Small things a newcomer reads: usage lines, --status mistakes, `make`'s target list."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from stages import check, delete, manifest, repair

ROOT = Path(__file__).resolve().parents[2]
USAGES = {
    "s3-manifest": (manifest.app, "Usage: s3-manifest [OPTIONS] [LOCATION]"),
    "s3-check": (check.app, "Usage: s3-check [OPTIONS] [TARGET]"),
    "s3-repair": (repair.app, "Usage: s3-repair [OPTIONS] TARGET"),
    "s3-delete": (delete.app, "Usage: s3-delete [OPTIONS] SCOPE"),
}


@pytest.mark.parametrize("stage", sorted(USAGES))
def test_usage_lines_name_arguments_without_braces(stage: str) -> None:
    app, usage = USAGES[stage]
    result = CliRunner().invoke(app, ["--help"], prog_name=stage)
    assert result.exit_code == 0
    assert result.output.splitlines()[0] == usage


@pytest.mark.parametrize(
    ("app", "args", "hint"),
    [
        (check.app, ["--status", "bogus"], "s3-check: hint: e.g. --status missing"),
        (check.app, ["--status", "mising"], "s3-check: hint: did you mean --status missing?"),
        (delete.app, ["s3://b/", "--status", "gone"], "s3-delete: hint: e.g. --status extra"),
    ],
)
def test_an_unknown_status_gets_an_example_or_the_likely_one(
    app: typer.Typer, args: list[str], hint: str
) -> None:
    stage = hint.split(":")[0]
    result = CliRunner().invoke(app, [*args, "-i", "/dev/null"], prog_name=stage)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[1] == hint


def test_make_lists_its_targets_in_one_column() -> None:
    listing = subprocess.run(
        ["make", "-s", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True
    ).stdout.splitlines()
    assert any(" bench-full " in line for line in listing)
    columns = {len(re.sub(r"^  make \S+ +", "", line)) - len(line) for line in listing}
    assert len(columns) == 1, listing
