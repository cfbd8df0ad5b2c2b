"""s3-delete's plan: from the options to a DeletePipeline and its StageRun."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lib.engine.shard import parse_shard
from lib.leaves.location import parse_location
from lib.pipelines.check import STATUSES
from lib.pipelines.delete import DeleteOptions, DeletePipeline, judge
from lib.pipelines.plan import Common, Plan, parse_statuses, reading_run
from lib.stores.protocol import store_for
from lib.stores.s3 import make_client

STAGE = "s3-delete"


@dataclass(frozen=True)
class DeleteRequest:
    """s3-delete's own options, as given."""

    scope: str
    status: Sequence[str] = ()
    dry_run: bool = False
    max_delete: int | None = None
    batch_size: int = 1000
    concurrency: int = 10
    shard: str | None = None


def plan_delete(request: DeleteRequest, common: Common) -> Plan:
    """Checks the options, opens the input, checks the bucket, and plans the run."""
    refused = {"ok": "deleting objects that were verified intact is refused"}
    wanted = parse_statuses(request.status, STATUSES, refused, example="extra")
    part = parse_shard(request.shard)
    where = parse_location(request.scope)
    records = common.open_records(STAGE)
    client = None
    if where.is_s3:
        # Few botocore retries: throttling must reach the adaptive window quickly.
        client = make_client(common.s3_config(request.concurrency + 4, max_attempts=3))
    store = store_for(where, client)
    store.check_bucket()
    arguments: dict[str, Any] = {
        "scope": str(where),
        "status": sorted(wanted),
        "dry_run": request.dry_run,
        "max_delete": request.max_delete,
        "endpoint": client.meta.endpoint_url if client else None,
    }
    options = DeleteOptions(
        statuses=wanted,
        dry_run=request.dry_run,
        max_delete=request.max_delete,
        batch_size=request.batch_size,
        concurrency=request.concurrency,
        shard=part,
    )
    run = reading_run(
        records, part, common, arguments, stage=STAGE, verb="processed", source=str(where),
        judge=judge,
    )  # fmt: skip
    return Plan(run, lambda cursor: DeletePipeline(records.reader, store, options, cursor))
