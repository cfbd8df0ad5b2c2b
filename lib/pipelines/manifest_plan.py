"""s3-manifest's plan: from the options to a listing (ManifestPipeline), a published
manifest's copy (PublishedPipeline), or another source (lib/pipelines/sources.py), and its
StageRun."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lib.engine import logs
from lib.engine.runner import Pipeline, StageRun
from lib.engine.shard import checkpoint_arguments, parse_shard
from lib.io.extsort import DEFAULT_RUN_SIZE
from lib.io.ndjson import is_stream
from lib.leaves.errors import UsageError
from lib.leaves.location import parse_location
from lib.pipelines import publish as published
from lib.pipelines import sources
from lib.pipelines.keylist import SortOptions
from lib.pipelines.manifest import ManifestOptions, ManifestPipeline, judge
from lib.pipelines.plan import Common, Plan
from lib.stores.protocol import store_for
from lib.stores.s3 import make_client

STAGE = "s3-manifest"


@dataclass(frozen=True)
class ManifestRequest:
    """s3-manifest's own options, as given."""

    location: str | None = None
    versions: bool = False
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    md5: bool = False
    page_size: int = 1000
    inventory: str | None = None
    url_encoded_keys: bool = False
    keys: str | None = None
    temp_dir: str | None = None
    sort_buffer: int = DEFAULT_RUN_SIZE
    publish_to: str | None = None
    from_published: str | None = None
    max_age: str = "24h"
    parallel: int = 1
    shard: str | None = None


def plan_manifest(request: ManifestRequest, common: Common) -> Plan:
    """Checks the options and plans the run: an --inventory or --keys source, or a
    listing of LOCATION (or its published copy)."""
    if request.url_encoded_keys and request.inventory is None:
        raise UsageError("--url-encoded-keys applies to --inventory reports")
    if request.inventory is not None or request.keys is not None:
        return _plan_source(request, common)
    return _plan_listing(request, common)


def _plan_source(request: ManifestRequest, common: Common) -> Plan:
    if request.parallel > 1 or request.shard is not None:
        raise UsageError("--parallel and --shard apply to listing S3, not --inventory/--keys")
    if request.md5:
        raise UsageError("--md5 applies to listing local directories")
    if request.publish_to or request.from_published:
        raise UsageError("--publish and --from-published apply to live listings")
    return sources.plan(
        sources.SourceRequest(
            stage=STAGE,
            location=request.location,
            inventory=request.inventory,
            keys=request.keys,
            versions=request.versions,
            include=list(request.include),
            exclude=list(request.exclude),
            sort=SortOptions(run_size=request.sort_buffer, temp_dir=request.temp_dir),
            url_encoded_keys=request.url_encoded_keys,
            config=common.s3_config(),
            output_fields=common.run_fields(),
        ),
        judge=judge,
    )


def _plan_listing(request: ManifestRequest, common: Common) -> Plan:
    if request.location is None:
        raise UsageError("give LOCATION, --inventory MANIFEST or --keys FILE")
    where = parse_location(request.location)
    sharded = request.parallel > 1 or request.shard is not None
    options = ManifestOptions(
        versions=request.versions,
        include=list(request.include),
        exclude=list(request.exclude),
        page_size=request.page_size,
        md5=request.md5,
        parallel=request.parallel,
        shard=parse_shard(request.shard),
    )
    if where.is_s3 and request.md5:
        raise UsageError("--md5 applies to local directories; S3 objects carry their ETag")
    if not where.is_s3 and request.versions:
        raise UsageError("--versions applies to S3 locations only")
    if not where.is_s3 and sharded:
        raise UsageError("--parallel and --shard apply to S3 locations only")
    if request.versions and sharded:
        # Ranges would start at KeyMarker=<boundary> without a VersionIdMarker, which
        # S3-compatible servers do not all honour (moto skips one version instead).
        raise UsageError("--versions cannot be combined with --parallel or --shard")
    if request.shard is not None and (request.publish_to or request.from_published):
        raise UsageError("--publish and --from-published take the whole location, not a --shard")
    config = common.s3_config(max(16, request.parallel + 4))
    client = make_client(config) if where.is_s3 else None
    shared = published.check_options(
        request.publish_to,
        request.from_published,
        common.output,
        common.output_format,
        filtered=bool(request.include or request.exclude),
    )
    if shared and client is None:
        client = make_client(config)
    arguments: dict[str, Any] = {
        "location": str(where),
        "endpoint": client.meta.endpoint_url if client else None,
        "output": common.output,
        "versions": request.versions,
        "include": options.include,
        "exclude": options.exclude,
        "md5": request.md5,
        # only when sharded, so that unsharded checkpoints of before still resume
        **checkpoint_arguments(options.shard),
        # --parallel is left out: it does not change the output, so a resumed run
        # may use another N.
    }
    copy = None
    if request.from_published:
        copy, why = published.plan(
            request.from_published,
            where,
            versions=request.versions,
            md5=request.md5,
            max_age_s=published.parse_age(request.max_age),
            client=client,
            checkpoint=None if common.restart or is_stream(common.output) else common.checkpoint,
        )
        arguments["from_published"] = request.from_published
        if why and not common.quiet:
            logs.note(STAGE, why)
    run = StageRun(
        stage=STAGE,
        verb="listed",
        source=str(where),
        arguments=arguments,
        **common.run_fields(),
        judge=judge,
        upstream=copy.upstream() if copy else None,
    )

    def build(cursor: dict[str, Any] | None) -> Pipeline:
        if copy is not None:
            return published.PublishedPipeline(
                copy, include=options.include, exclude=options.exclude, client=client,
                cursor=cursor,
            )  # fmt: skip
        return ManifestPipeline(store_for(where, client), options, cursor=cursor)

    publish_to = request.publish_to
    if not publish_to:
        return Plan(run, build)

    def publish() -> None:
        said = published.publish(common.output, publish_to, client)
        if not common.quiet:
            logs.note(STAGE, said)

    return Plan(run, build, after=publish)
