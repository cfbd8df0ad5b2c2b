"""The typer layer: exit codes, one-line errors, stdout for records only."""

import json
from pathlib import Path

from typer.testing import CliRunner

from stages.manifest import app

runner = CliRunner()


def test_lists_a_local_directory_to_stdout(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"abc")
    result = runner.invoke(app, [str(tmp_path), "--no-progress"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["type"] for line in lines] == ["header", "object", "summary"]
    assert lines[0]["source"] == str(tmp_path)
    assert lines[1]["key"] == "d/f" and lines[1]["size"] == 3
    assert lines[2]["counts"] == {"objects": 1} and lines[2]["bytes"] == 3
    assert result.stderr.startswith("s3-manifest: 1 listed in ")


def test_quiet_prints_nothing_on_stderr(tmp_path: Path) -> None:
    result = runner.invoke(app, [str(tmp_path), "--quiet"])
    assert result.exit_code == 0 and result.stderr == ""


def test_missing_directory_is_exit_3_with_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, [str(tmp_path / "nope")])
    assert result.exit_code == 3
    assert (
        result.stderr.splitlines()[-1]
        == f"s3-manifest: error: {tmp_path / 'nope'} is not a directory"
    )
    assert "Traceback" not in result.stderr


def test_usage_errors_exit_2() -> None:
    result = runner.invoke(app, ["s3://bucket", "--md5"])
    assert result.exit_code == 2
    assert "s3-manifest: error: --md5 applies to local directories" in result.stderr
    assert runner.invoke(app, ["s3://"]).exit_code == 2
    assert runner.invoke(app, ["gs://bucket"]).exit_code == 2
    assert runner.invoke(app, ["s3://bucket", "--page-size", "0"]).exit_code == 2


def test_checkpoint_of_other_arguments_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    ck = str(tmp_path / "ck")
    out = str(tmp_path / "out")
    assert runner.invoke(app, [str(tmp_path / "a"), "-o", out, "--checkpoint", ck]).exit_code == 0
    result = runner.invoke(app, [str(tmp_path / "b"), "-o", out, "--checkpoint", ck])
    assert result.exit_code == 2
    assert "other arguments (differs in: location)" in result.stderr
    assert "--restart" in result.stderr
