"""s3-check's plan: from the options to its pipeline (ListCheck or ObjectCheck) and its StageRun."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lib.engine.shard import parse_shard
from lib.io.ndjson import RecordReader
from lib.leaves.errors import UsageError
from lib.leaves.location import Location, parse_location
from lib.leaves.records import DataRecord
from lib.pipelines.check import (
    MODES,
    STATUSES,
    CheckOptions,
    KeyMap,
    judge,
    listing_location,
    source_of,
)
from lib.pipelines.check_list import ListCheck
from lib.pipelines.check_objects import ObjectCheck
from lib.pipelines.plan import Common, Plan, parse_statuses, reading_run
from lib.stores.crt.requests import engine_requests
from lib.stores.protocol import Stores
from lib.stores.s3 import make_client

STAGE = "s3-check"


@dataclass(frozen=True)
class CheckRequest:
    """s3-check's own options, as given."""

    target: str | None = None
    mode: str = "list"
    status: Sequence[str] = ()
    part_size: int | None = None
    concurrency: int = 16
    page_size: int = 1000
    parallel: int = 1
    shard: str | None = None


def plan_check(request: CheckRequest, common: Common) -> Plan:
    """Checks the options, opens the input, checks the buckets, and plans the run."""
    mode = request.mode
    if mode not in MODES:
        raise UsageError(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
    wanted = parse_statuses(request.status, STATUSES)
    part = parse_shard(request.shard)
    where = parse_location(request.target) if request.target else None
    records = common.open_records(STAGE)
    source = source_of(records.header.source if records.header else None)
    listing = listing_location(where, source) if mode == "list" else None
    if request.parallel > 1 and (listing is None or not listing.is_s3):
        raise UsageError("--parallel applies to list mode with an S3 TARGET only")
    connections = max(request.concurrency, request.parallel) + 4
    config = common.s3_config(connections)
    client = make_client(config)
    # HEAD and GET of head and read modes go through the request engine (lib/stores/crt).
    stores = Stores(client, objects=engine_requests(config, request.concurrency))
    for location in (listing, where):
        if location is not None:
            stores.get(location.bucket).check_bucket()
    arguments: dict[str, Any] = {
        "target": str(where) if where else None,
        "mode": mode,
        "status": sorted(wanted),
        "part_size": request.part_size,
        "endpoint": client.meta.endpoint_url,
        # --parallel is left out: it does not change the output, so a resumed run
        # may use another N.
    }
    options = CheckOptions(
        mode=mode,
        part_size=request.part_size,
        concurrency=request.concurrency,
        page_size=request.page_size,
        parallel=request.parallel,
        shard=part,
    )
    run = reading_run(
        records,
        part,
        common,
        arguments,
        stage=STAGE,
        verb="checked",
        source=str(where or listing or source or "-"),
        judge=judge,
        keep=status_filter(wanted),
        throughput=mode == "read",
    )
    keymap = KeyMap(source, where)
    return Plan(
        run,
        lambda cursor: check_pipeline(records.reader, keymap, listing, stores, options, cursor),
    )


def check_pipeline(
    reader: RecordReader,
    keymap: KeyMap,
    listing: Location | None,
    stores: Stores,
    options: CheckOptions,
    cursor: dict[str, Any] | None,
) -> ListCheck | ObjectCheck:
    """The pipeline of `options.mode`: list mode merges the input with a listing of
    `listing`; head and read modes check one record at a time."""
    if options.mode == "list":
        if listing is None:
            raise ValueError("list mode needs a location to list")
        return ListCheck(reader, keymap, listing, stores, options, cursor)
    return ObjectCheck(reader, keymap, stores, options, cursor)


def status_filter(wanted: frozenset[str]) -> Callable[[DataRecord], bool] | None:
    """--status: which records are written (all are counted); None: every record."""
    if not wanted:
        return None

    def keep(record: DataRecord) -> bool:
        return getattr(record, "status", "error") in wanted

    return keep
