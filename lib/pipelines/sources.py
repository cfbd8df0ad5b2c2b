"""s3-manifest's other sources than a listing: an S3 Inventory report and a plain key list.

`plan` turns the options into the Plan (lib/pipelines/plan.py) that s3-manifest runs: the
StageRun (header source, checkpoint arguments) and the pipeline builder.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lib.engine.runner import StageRun
from lib.io.ndjson import open_input, refuse_same_file
from lib.leaves.errors import ExitCode, UsageError, redact
from lib.leaves.location import Location, parse_location
from lib.pipelines.inventory import InventoryOptions, InventoryPipeline, Report
from lib.pipelines.keylist import KeyListOptions, KeyListPipeline, SortOptions
from lib.pipelines.plan import Build, Plan
from lib.stores.s3 import S3Config, make_client


@dataclass
class SourceRequest:
    stage: str
    location: str | None
    inventory: str | None
    keys: str | None
    versions: bool
    include: Sequence[str]
    exclude: Sequence[str]
    sort: SortOptions
    config: S3Config
    output_fields: dict[str, Any] = field(default_factory=dict)
    url_encoded_keys: bool = False


def plan(
    request: SourceRequest,
    *,
    judge: Callable[[dict[str, int], bool], ExitCode],
) -> Plan:
    if request.inventory is not None and request.keys is not None:
        raise UsageError("--inventory and --keys exclude each other")
    arguments: dict[str, Any] = {
        "include": list(request.include),
        "exclude": list(request.exclude),
        "output": request.output_fields.get("output"),
    }
    build: Build
    if request.inventory is not None:
        where, arguments_more, build = _plan_inventory(request)
    else:
        where, arguments_more, build = _plan_keys(request)
    arguments.update(arguments_more)
    run = StageRun(
        stage=request.stage,
        verb="listed",
        source=str(where),
        arguments=arguments,
        **request.output_fields,
        judge=judge,
    )
    return Plan(run, build)


def _plan_inventory(request: SourceRequest) -> tuple[Location, dict[str, Any], Build]:
    url = request.inventory
    assert url is not None
    client = make_client(request.config) if url.startswith("s3://") else None
    report = Report(url, client)
    if request.location is None:
        where = Location("s3", report.source_bucket, "")
    else:
        where = parse_location(request.location)
        if not where.is_s3 or where.bucket != report.source_bucket:
            raise UsageError(
                f"LOCATION {request.location} is not in the report's bucket "
                f"s3://{report.source_bucket}/",
                hint="with --inventory, LOCATION only selects a prefix of the source bucket",
            )
    if request.versions and not report.lists_versions:
        raise UsageError(
            "--versions needs a report of all versions; this one has no VersionId column"
        )
    options = InventoryOptions(
        versions=request.versions,
        url_encoded_keys=request.url_encoded_keys,
        include=request.include,
        exclude=request.exclude,
        sort=request.sort,
    )
    arguments = {
        "location": str(where),
        "inventory": redact(url),
        "inventory_md5": report.md5,
        "endpoint": client.meta.endpoint_url if client else None,
        "versions": request.versions,
    }
    if request.url_encoded_keys:  # only then, so that checkpoints of before still resume
        arguments["url_encoded_keys"] = True
    return (
        where,
        arguments,
        lambda cursor: InventoryPipeline(report, where, options, cursor=cursor),
    )


def _plan_keys(request: SourceRequest) -> tuple[Location, dict[str, Any], Build]:
    if request.location is None:
        raise UsageError("--keys needs LOCATION: the bucket (and prefix) the keys are in")
    if request.versions:
        raise UsageError("--versions does not apply to --keys: a key list names no versions")
    where = parse_location(request.location)
    keys = request.keys
    assert keys is not None
    stream, _ = open_input(keys)
    refuse_same_file(stream, request.output_fields.get("output", "-"))
    options = KeyListOptions(include=request.include, exclude=request.exclude, sort=request.sort)
    arguments = {"location": str(where), "keys": redact(keys)}
    return where, arguments, lambda cursor: KeyListPipeline(stream, where, options, cursor=cursor)
