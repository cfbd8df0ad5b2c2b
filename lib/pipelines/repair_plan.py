"""s3-repair's plan: from the options to a RepairPipeline (with its Copier and
Verifier) and its StageRun."""

from __future__ import annotations

import concurrent.futures
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lib.engine import logs
from lib.engine.shard import parse_shard
from lib.leaves.guidance import source_mismatch
from lib.leaves.location import parse_location
from lib.pipelines.check import STATUSES
from lib.pipelines.copier import Copier
from lib.pipelines.listed import Listed
from lib.pipelines.plan import Common, Plan, parse_statuses, reading_run
from lib.pipelines.repair import REPAIRABLE, Listings, RepairOptions, RepairPipeline, judge
from lib.pipelines.verify import Verifier
from lib.stores.crt.requests import engine_requests
from lib.stores.protocol import Store, Stores, store_for
from lib.stores.s3 import make_client
from lib.stores.s3store import S3Store
from lib.stores.transfer import MIB, Buffers, Clients, Retrier, Timeouts, Uploads

STAGE = "s3-repair"


@dataclass(frozen=True)
class RepairRequest:
    """s3-repair's own options, as given."""

    target: str
    source: str
    status: Sequence[str] = ()
    dry_run: bool = False
    concurrency: int = 8
    part_size: int = 16 * MIB
    part_concurrency: int = 4
    multipart_threshold: int | None = None
    from_endpoint_url: str | None = None
    shard: str | None = None


def plan_repair(request: RepairRequest, common: Common) -> Plan:
    """Checks the options, opens the input, checks both buckets, and plans the run."""
    never = "ok and extra objects are never copied over"
    refused = {"ok": never, "extra": never}
    wanted = parse_statuses(request.status, STATUSES, refused) or REPAIRABLE
    part = parse_shard(request.shard)
    to, origin = parse_location(request.target), parse_location(request.source)
    records = common.open_records(STAGE)
    mismatch = source_mismatch(origin, records.header)
    if mismatch is not None:
        logs.log(STAGE, "warning", *mismatch)
    connections = request.concurrency + request.part_concurrency + 4
    target_config = common.s3_config(connections)
    source_config = common.s3_config(connections, endpoint_url=request.from_endpoint_url)
    client = make_client(target_config) if to.is_s3 else None
    source_client = make_client(source_config) if origin.is_s3 else None
    # Transfers get a client per timeout (lib/stores/transfer.py's Clients); the per-object
    # requests (HEAD, GET, PUT, copies, parts) go through the request engine (lib/stores/crt).
    in_flight = request.concurrency + request.part_concurrency
    target_objects = engine_requests(target_config, in_flight) if client else None
    target_store = store_for(
        to, client, clients=Clients(target_config) if client else None, objects=target_objects
    )
    source_store = store_for(
        origin,
        source_client,
        clients=Clients(source_config) if source_client else None,
        objects=engine_requests(source_config, in_flight) if source_client else None,
    )
    target_store.check_bucket()
    source_store.check_bucket()
    effective = client.meta.endpoint_url if client else None
    source_effective = source_client.meta.endpoint_url if source_client else None
    part_pool = concurrent.futures.ThreadPoolExecutor(request.part_concurrency, "s3-repair-part")
    copier = Copier(
        source_store,
        target_store,
        same_endpoint=effective == source_effective,
        part_size=request.part_size,
        multipart_threshold=request.multipart_threshold,
        part_pool=part_pool,
        buffers=Buffers(request.part_concurrency),
        uploads=Uploads(),
    )
    verifier = Verifier(Stores(client, objects=target_objects))
    listings = Listings(
        Listed(target_store.list_page) if isinstance(target_store, S3Store) else None,
        Listed(source_store.list_page) if isinstance(source_store, S3Store) else None,
    )
    arguments: dict[str, Any] = {
        "target": str(to),
        "source": str(origin),
        "status": sorted(wanted),
        "dry_run": request.dry_run,
        "endpoint": effective,
        "source_endpoint": source_effective,
    }
    options = RepairOptions(
        statuses=wanted, dry_run=request.dry_run, concurrency=request.concurrency, shard=part
    )
    run = reading_run(
        records, part, common, arguments, stage=STAGE, verb="processed", source=str(to),
        judge=judge, throughput=True,
    )  # fmt: skip
    checkpoint = common.checkpoint
    if checkpoint:
        run.before_restart = lambda: abort_previous_uploads(checkpoint, target_store)
    return Plan(
        run,
        lambda cursor: RepairPipeline(
            records.reader, to, origin, copier, verifier, options, cursor, listings
        ),
        close=lambda: part_pool.shutdown(wait=False, cancel_futures=True),
    )


def abort_previous_uploads(checkpoint: str, target: Store) -> None:
    """On --restart, the multipart uploads the old checkpoint left open are aborted."""
    try:
        with open(checkpoint, "rb") as handle:
            uploads = json.load(handle).get("cursor", {}).get("uploads", {})
    except (OSError, ValueError):
        return
    if not uploads or not target.multipart:
        return
    for key, state in uploads.items():
        try:
            target.abort_upload(key, state["upload_id"], Retrier(Timeouts()))
        except Exception as exc:
            logs.log(STAGE, "warning", f"could not abort the upload of {key}: {exc}")
    logs.note(STAGE, f"aborted {len(uploads)} multipart upload(s) of the old checkpoint")
