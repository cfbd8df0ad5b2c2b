"""Help is documentation: every stage has --help with examples and is in the README."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def test_all_four_stages_are_planned_and_registered_ones_exist() -> None:
    assert "s3-manifest" in SCRIPTS
    assert set(SCRIPTS) <= {"s3-manifest", "s3-check", "s3-repair", "s3-delete"}
    for name, target in SCRIPTS.items():
        module = target.split(":")[0]
        assert module == f"stages.{name.removeprefix('s3-')}"


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_help_has_examples(script: str) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / script), "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "Examples:" in result.stdout
    assert f"  {script} " in result.stdout.split("Examples:")[1]


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_runs_as_a_module_too(script: str) -> None:
    module = SCRIPTS[script].split(":")[0]
    result = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0 and "Examples:" in result.stdout


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_readme_documents_the_stage(script: str) -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"`{script}" in readme or f"{script} " in readme


def test_readme_gives_the_fresh_machine_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert [
        line for line in ci.splitlines() if line and not line.startswith(("#", "set ", "cd "))
    ] == ["make test"]
