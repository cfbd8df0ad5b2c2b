"""What a stage imports at start-up: only what its run uses. `--help` loads none of lib's
pipelines, stores or file formats (nor botocore, awscrt, msgspec); a run loads no pyarrow
without --inventory, no smart_open without a URL, no zstandard without a .zst file.

Each stage runs as a subprocess (its `main`, as the console script calls it) that writes
the names in sys.modules at exit; no timing is measured."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

import stages.check
import stages.delete
import stages.manifest
import stages.repair
from lib.io.extsort import DEFAULT_RUN_SIZE
from lib.pipelines import check_plan, delete_plan, manifest_plan, repair_plan
from lib.stores.transfer import MIB

STAGES = ("manifest", "check", "repair", "delete")
# Never needed to parse a command line and show help.
NOT_FOR_HELP = (
    "botocore",
    "boto3",
    "awscrt",
    "msgspec",
    "pyarrow",
    "smart_open",
    "zstandard",
    "lib.pipelines",
    "lib.stores",
    "lib.io",
)
# Never needed by a run that reads no inventory, no URL and no .zst file.
NOT_FOR_PLAIN_RUNS = ("pyarrow", "smart_open", "zstandard", "boto3", "s3transfer")

WRAPPER = """
import atexit, json, sys
report, stage, *argv = sys.argv[1:]
atexit.register(lambda: open(report, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["s3-" + stage, *argv]
import importlib
importlib.import_module("stages." + stage).main()
"""


def modules_after(
    stage: str, args: list[str], env: Mapping[str, str], report: Path
) -> tuple[subprocess.CompletedProcess[bytes], list[str]]:
    """Runs `stage` with `args` in a fresh interpreter; its result and the modules it loaded."""
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, str(report), stage, *args],
        env=dict(env),
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    return done, json.loads(report.read_text())


def loaded(modules: list[str], packages: tuple[str, ...]) -> list[str]:
    """The modules that are, or are inside, one of `packages`."""
    return [m for m in modules if any(m == p or m.startswith(p + ".") for p in packages)]


@pytest.mark.parametrize("stage", STAGES)
def test_help_loads_no_pipeline_store_or_s3_library(
    stage: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    done, modules = modules_after(stage, ["--help"], cli_env, tmp_path / "modules.json")
    assert done.returncode == 0, done.stderr
    assert b"Usage: s3-" + stage.encode() in done.stdout
    assert b"Example" in done.stdout
    assert loaded(modules, NOT_FOR_HELP) == []


def test_stage_names_and_defaults_are_lib_s() -> None:
    """The stage modules keep copies of a few constants, so --help imports no lib module
    for them: the copies must stay equal to lib's."""
    assert stages.check.STAGE == check_plan.STAGE
    assert stages.repair.STAGE == repair_plan.STAGE
    assert stages.delete.STAGE == delete_plan.STAGE
    assert stages.manifest.STAGE == manifest_plan.STAGE
    assert stages.repair.MIB == MIB
    assert stages.manifest.DEFAULT_RUN_SIZE == DEFAULT_RUN_SIZE


def test_runs_load_no_inventory_url_or_zstd_reader(
    cli_env: dict[str, str],
    make_bucket: Callable[..., str],
    put_objects: Callable[[str, Mapping[str, bytes]], dict[str, str]],
    tmp_path: Path,
) -> None:
    """A listing, a head check, a repair and a delete, all against moto: each run does its
    work and loads none of the readers it had no use for."""
    source, target = make_bucket(), make_bucket()
    put_objects(source, {"a/1": b"one", "a/2": b"two"})
    put_objects(target, {"a/1": b"one"})
    manifest, checked = tmp_path / "src.ndjson", tmp_path / "chk.ndjson"
    runs = {
        "manifest": [f"s3://{source}/a/", "-o", str(manifest), "-q"],
        "check": [f"s3://{target}/a/", "-i", str(manifest), "--mode", "head", "-o", str(checked)],
        "repair": [f"s3://{target}/a/", "--from", f"s3://{source}/a/", "-i", str(checked), "-q"],
        "delete": [f"s3://{source}/a/", "-i", str(manifest), "-q"],
    }
    for stage, args in runs.items():
        done, modules = modules_after(stage, args, cli_env, tmp_path / f"{stage}.json")
        # s3-check finds a/2 missing (exit 1); the others succeed.
        assert done.returncode == (1 if stage == "check" else 0), (stage, done.stderr)
        assert loaded(modules, NOT_FOR_PLAIN_RUNS) == [], stage
    assert b'"missing"' in checked.read_bytes()
