"""The plan functions the stages call (lib/*_plan.py), called here directly, in-process:
what they build (the checkpoint arguments a resumed run must match, the header's source
and upstream), what they refuse, and the buckets they check first."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any

import pytest
import typer

from lib.leaves.errors import ExitCode, StageError, UsageError
from lib.leaves.records import CheckRecord, ObjectRecord
from lib.pipelines.check_plan import CheckRequest, plan_check
from lib.pipelines.delete_plan import DeleteRequest, plan_delete
from lib.pipelines.manifest_plan import ManifestRequest, plan_manifest
from lib.pipelines.plan import Common, run_plan
from lib.pipelines.repair_plan import RepairRequest, plan_repair

FILES = {"a.txt": b"alpha", "b/c.txt": b"gamma"}


@pytest.fixture
def world(tmp_path: Path) -> dict[str, str]:
    """A source tree, an empty target directory, and a manifest of the source (made by
    plan_manifest itself)."""
    source = tmp_path / "source"
    for key, body in FILES.items():
        (source / key).parent.mkdir(parents=True, exist_ok=True)
        (source / key).write_bytes(body)
    target = tmp_path / "target"
    target.mkdir()
    manifest = tmp_path / "src.ndjson"
    plan = plan_manifest(
        ManifestRequest(location=str(source)), Common(output=str(manifest), quiet=True)
    )
    assert run_plan(plan) == ExitCode.OK
    return {"source": str(source), "target": str(target), "manifest": str(manifest)}


@pytest.fixture
def s3(server_client: Any, s3_server: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The bucket `plans` on the session's moto server, which the plans' clients reach."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    server_client.create_bucket(Bucket="plans")  # us-east-1: a bucket one owns again is OK
    return server_client


def test_a_local_listing_plan_names_its_location_and_the_options_that_shape_it(
    world: dict[str, str],
) -> None:
    plan = plan_manifest(
        ManifestRequest(location=world["source"], include=["*.txt"], md5=True),
        Common(output="out.ndjson"),
    )
    assert plan.run.stage == "s3-manifest"
    assert plan.run.source == world["source"]
    assert plan.run.arguments == {
        "location": world["source"],
        "endpoint": None,
        "output": "out.ndjson",
        "versions": False,
        "include": ["*.txt"],
        "exclude": [],
        "md5": True,
    }
    assert plan.after is None  # nothing to publish


def test_a_shard_is_a_checkpoint_argument_only_when_given(s3: Any) -> None:
    whole = plan_manifest(ManifestRequest(location="s3://plans/"), Common())
    part = plan_manifest(ManifestRequest(location="s3://plans/", shard="1/3"), Common())
    assert "shard" not in whole.run.arguments  # checkpoints of unsharded runs still resume
    assert part.run.arguments["shard"] == "1/3"
    assert part.run.arguments["endpoint"] == whole.run.arguments["endpoint"] is not None


def test_a_manifest_plan_checks_its_options_before_any_request(world: dict[str, str]) -> None:
    with pytest.raises(UsageError, match="--versions applies to S3 locations only"):
        plan_manifest(ManifestRequest(location=world["source"], versions=True), Common())
    with pytest.raises(UsageError, match="give LOCATION, --inventory MANIFEST or --keys"):
        plan_manifest(ManifestRequest(), Common())


def test_a_key_list_plan_remembers_the_list(tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text("data/b\ndata/a\n")
    plan = plan_manifest(ManifestRequest(location="s3://plans/data/", keys=str(keys)), Common())
    assert plan.run.arguments == {
        "location": "s3://plans/data/",
        "keys": str(keys),
        "include": [],
        "exclude": [],
        "output": "-",
    }
    records = [r for r in plan.build(None) if isinstance(r, ObjectRecord)]
    assert [r.key for r in records] == ["data/a", "data/b"]


def test_publishing_is_done_after_the_run(world: dict[str, str], tmp_path: Path) -> None:
    published = tmp_path / "published.ndjson.gz"
    output = tmp_path / "out.ndjson"
    plan = plan_manifest(
        ManifestRequest(location=world["source"], publish_to=str(published)),
        Common(output=str(output), quiet=True),
    )
    assert plan.after is not None
    assert not published.exists()
    assert run_plan(plan) == ExitCode.OK
    assert published.exists()


def test_a_check_plan_remembers_the_input_and_every_option_that_changes_the_output(
    world: dict[str, str],
) -> None:
    common = Common(input=world["manifest"], output="chk.ndjson")
    plan = plan_check(
        CheckRequest(target=world["target"], mode="head", status=["missing", "error"]), common
    )
    arguments = plan.run.arguments
    assert {key: arguments[key] for key in ("target", "mode", "status", "part_size")} == {
        "target": world["target"],
        "mode": "head",
        "status": ["error", "missing"],
        "part_size": None,
    }
    assert arguments["input"] == world["manifest"]
    assert arguments["input_source"] == world["source"]
    assert len(arguments["input_header"]) == 64  # the hash of the input's header line
    assert arguments["output"] == "chk.ndjson"
    assert "shard" not in arguments and "parallel" not in arguments
    assert plan.run.source == world["target"]
    assert plan.run.upstream is not None and plan.run.upstream["stage"] == "s3-manifest"
    assert plan.run.total == len(FILES)
    keep = plan.run.keep
    assert keep is not None
    missing = CheckRecord(bucket="b", key="k", status="missing")
    assert keep(missing) and not keep(CheckRecord(bucket="b", key="k", status="ok"))
    statuses = [getattr(r, "status", None) for r in plan.build(None)]
    assert statuses.count("missing") == len(FILES)


def test_a_resume_with_other_options_is_refused(world: dict[str, str], tmp_path: Path) -> None:
    common = Common(
        input=world["manifest"],
        output=str(tmp_path / "chk.ndjson"),
        checkpoint=str(tmp_path / "chk.ck"),
        quiet=True,
    )
    first = plan_check(CheckRequest(target=world["target"]), common)
    assert run_plan(first) == ExitCode.NOT_OK  # every object missing
    for changed in (
        CheckRequest(target=world["target"], mode="head"),
        CheckRequest(target=world["target"], status=["missing"]),
        CheckRequest(target=world["target"], shard="0/2"),
        CheckRequest(target=world["source"]),
    ):
        with pytest.raises(StageError, match="with other arguments") as refused:
            run_plan(plan_check(changed, common))
        assert refused.value.exit_code == ExitCode.USAGE
    # --parallel does not change the output: a resumed run may use another N.
    again = plan_check(CheckRequest(target=world["target"], concurrency=3), common)
    assert run_plan(again) == ExitCode.NOT_OK  # the completed run's code, nothing redone


def test_a_check_plan_refuses_what_it_cannot_do(world: dict[str, str]) -> None:
    common = Common(input=world["manifest"])
    with pytest.raises(UsageError, match="--mode must be one of"):
        plan_check(CheckRequest(target=world["target"], mode="fast"), common)
    with pytest.raises(UsageError, match="--parallel applies to list mode with an S3 TARGET"):
        plan_check(CheckRequest(target=world["target"], parallel=2), common)


def test_a_check_plan_checks_the_target_bucket_first(world: dict[str, str], s3: Any) -> None:
    with pytest.raises(StageError, match="no-such-bucket") as missing:
        plan_check(CheckRequest(target="s3://no-such-bucket/x/"), Common(input=world["manifest"]))
    assert missing.value.exit_code == ExitCode.FATAL


def test_a_delete_plan_remembers_its_scope_and_guards(world: dict[str, str], s3: Any) -> None:
    plan = plan_delete(
        DeleteRequest(scope="s3://plans/old/", dry_run=True, max_delete=5, shard="1/2"),
        Common(input=world["manifest"]),
    )
    arguments = plan.run.arguments
    assert {k: arguments[k] for k in ("scope", "status", "dry_run", "max_delete", "shard")} == {
        "scope": "s3://plans/old/",
        "status": [],
        "dry_run": True,
        "max_delete": 5,
        "shard": "1/2",
    }
    assert arguments["endpoint"] is not None
    assert arguments["input"] == world["manifest"]
    assert plan.run.total == 1  # this shard's estimated half of the input's 2 records
    with pytest.raises(UsageError, match="--status ok: deleting objects that were verified"):
        plan_delete(DeleteRequest(scope="s3://plans/", status=["ok"]), Common())
    with pytest.raises(StageError, match="no-such-bucket"):
        plan_delete(DeleteRequest(scope="s3://no-such-bucket/"), Common(input=world["manifest"]))


def test_a_repair_plan_remembers_both_sides(world: dict[str, str], tmp_path: Path) -> None:
    checks = tmp_path / "chk.ndjson"
    check = plan_check(
        CheckRequest(target=world["target"]),
        Common(input=world["manifest"], output=str(checks), quiet=True),
    )
    assert run_plan(check) == ExitCode.NOT_OK
    plan = plan_repair(
        RepairRequest(target=world["target"], source=world["source"], dry_run=True),
        Common(input=str(checks), checkpoint=str(tmp_path / "rep.ck")),
    )
    arguments = plan.run.arguments
    assert {k: arguments[k] for k in ("target", "source", "dry_run", "status")} == {
        "target": world["target"],
        "source": world["source"],
        "dry_run": True,
        "status": [
            "checksum_mismatch",
            "etag_mismatch",
            "missing",
            "size_mismatch",
            "unreadable",
        ],
    }
    assert arguments["endpoint"] is None and arguments["source_endpoint"] is None
    assert plan.run.upstream is not None and plan.run.upstream["stage"] == "s3-check"
    assert plan.run.before_restart is not None  # aborts the old checkpoint's uploads
    assert plan.close is not None
    statuses = [getattr(r, "status", None) for r in plan.build(None)]
    assert statuses.count("dry_run") == len(FILES)
    with pytest.raises(UsageError, match="--status extra: ok and extra objects are never"):
        plan_repair(RepairRequest(target="/t", source="/s", status=["extra"]), Common())


@pytest.mark.parametrize(
    ("stage", "request_type"),
    [
        ("manifest", ManifestRequest),
        ("check", CheckRequest),
        ("repair", RepairRequest),
        ("delete", DeleteRequest),
    ],
)
def test_every_field_of_a_request_is_an_option_of_its_stage(stage: str, request_type: type) -> None:
    """stages/cli.py's `request` fills a request from the parameters of the same names."""
    command = typer.main.get_command(importlib.import_module(f"stages.{stage}").app)
    options = {parameter.name for parameter in command.params}
    assert {field.name for field in dataclasses.fields(request_type)} <= options
