"""s3-repair: copy what s3-check found missing or damaged from SOURCE to TARGET, verified."""

from __future__ import annotations

import concurrent.futures
import json
from typing import Annotated, Any

import typer

from lib import cli, logs
from lib.check import STATUSES
from lib.copier import Copier
from lib.errors import ExitCode
from lib.guidance import source_mismatch
from lib.location import parse_location
from lib.repair import REPAIRABLE, RepairOptions, RepairPipeline, judge
from lib.runner import StageRun, run_stage
from lib.s3 import make_client
from lib.shard import checkpoint_arguments, parse_shard
from lib.stores import Store, Stores, store_for
from lib.transfer import MIB, Buffers, Clients, Retrier, Timeouts, Uploads
from lib.verify import Verifier

STAGE = "s3-repair"

app = cli.new_app("Copy missing or damaged objects from SOURCE to TARGET, and verify them.")


@app.command(cls=cli.Command)
def repair(
    target: Annotated[
        str, typer.Argument(metavar="TARGET", help="s3://bucket[/prefix] or a local directory.")
    ],
    source: Annotated[
        str,
        typer.Option(
            "--from",
            metavar="SOURCE",
            help="s3://bucket[/prefix] or a local directory to copy from.",
        ),
    ],
    input_path: cli.InputPath = "-",
    output: cli.Output = "-",
    output_format: cli.OutputFormat = cli.Format.ndjson,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            metavar="STATUS",
            help="Act on check records with this status (default: missing, size_mismatch, "
            "etag_mismatch, checksum_mismatch, unreadable; unverified only when given).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Copy nothing; write dry_run records.")
    ] = False,
    concurrency: Annotated[
        int, typer.Option("--concurrency", metavar="N", min=1, max=64, help="Objects in flight.")
    ] = 8,
    part_size: Annotated[
        int,
        typer.Option("--part-size", metavar="BYTES", min=5 * MIB, help="Multipart part size."),
    ] = 16 * MIB,
    part_concurrency: Annotated[
        int,
        typer.Option(
            "--part-concurrency",
            metavar="N",
            min=1,
            max=64,
            help="Parts in flight (each holds a part-sized buffer when streaming).",
        ),
    ] = 4,
    multipart_threshold: Annotated[
        int | None,
        typer.Option(
            "--multipart-threshold",
            metavar="BYTES",
            min=5 * MIB,
            help="Copy larger objects in parts (default: the part size for uploads, "
            "5 GiB for server-side copies).",
        ),
    ] = None,
    from_endpoint_url: Annotated[
        str | None,
        typer.Option(
            "--from-endpoint-url",
            metavar="URL",
            help="SOURCE's S3 server, if not TARGET's (then bytes stream through this host).",
        ),
    ] = None,
    checkpoint: cli.CheckpointPath = None,
    restart: cli.Restart = False,
    skip_bad_lines: cli.SkipBadLines = False,
    shard: cli.ShardOption = None,
    progress: cli.ShowProgress = True,
    progress_format: cli.ProgressFormat = cli.StderrFormat.text,
    progress_interval: cli.ProgressInterval = None,
    quiet: cli.Quiet = False,
    endpoint_url: cli.EndpointUrl = None,
    profile: cli.Profile = None,
    region: cli.Region = None,
    debug: cli.Debug = False,
) -> None:
    """Read check records and, for every missing or damaged object, copy the expected
    object from SOURCE to TARGET: server-side on one S3 endpoint, streamed otherwise
    (multipart, bounded memory), into a temp file renamed into place for a local
    directory. The target is re-checked first (nothing is copied twice) and verified
    after. Exit 0 only when every record acted on was repaired.

    \b
    Examples:
      s3-check s3://dst/backup/ -i src.ndjson | s3-repair s3://dst/backup/ --from s3://src/data/
      s3-repair s3://dst/ --from /srv/files -i chk.ndjson -o rep.ndjson --checkpoint rep.ck
      s3-repair /restore/ --from s3://bucket/ -i chk.ndjson --dry-run
      s3-repair s3://dst/ --from s3://src/ -i chk.ndjson --dry-run --format s3-batch-csv
      s3-repair s3://dst/ --from s3://src/ -i chk.ndjson --shard 1/4 -o rep-1.ndjson

    With --shard K/N, only the records whose key hashes to K are processed; the N
    outputs together are the output of one run.
    """

    def body() -> ExitCode:
        never = "ok and extra objects are never copied over"
        wanted = cli.parse_statuses(status, STATUSES, {"ok": never, "extra": never}) or REPAIRABLE
        part = parse_shard(shard)
        to, origin = parse_location(target), parse_location(source)
        records = cli.open_records(input_path, STAGE, skip_bad_lines=skip_bad_lines, output=output)
        mismatch = source_mismatch(origin, records.header)
        if mismatch is not None:
            logs.log(STAGE, "warning", *mismatch)
        connections = concurrency + part_concurrency + 4
        target_config = cli.s3_config(endpoint_url, profile, region, connections)
        source_config = cli.s3_config(
            from_endpoint_url or endpoint_url, profile, region, connections
        )
        client = make_client(target_config) if to.is_s3 else None
        source_client = make_client(source_config) if origin.is_s3 else None
        # Transfers get a client per timeout (lib/transfer.py's Clients).
        target_store = store_for(to, client, clients=Clients(target_config) if client else None)
        source_store = store_for(
            origin, source_client, clients=Clients(source_config) if source_client else None
        )
        target_store.check_bucket()
        source_store.check_bucket()
        effective = client.meta.endpoint_url if client else None
        source_effective = source_client.meta.endpoint_url if source_client else None
        part_pool = concurrent.futures.ThreadPoolExecutor(part_concurrency, "s3-repair-part")
        copier = Copier(
            source_store,
            target_store,
            same_endpoint=effective == source_effective,
            part_size=part_size,
            multipart_threshold=multipart_threshold,
            part_pool=part_pool,
            buffers=Buffers(part_concurrency),
            uploads=Uploads(),
        )
        verifier = Verifier(Stores(client))
        arguments: dict[str, Any] = {
            "target": str(to),
            "source": str(origin),
            **records.identity(),
            "output": output,
            "status": sorted(wanted),
            "dry_run": dry_run,
            "endpoint": effective,
            "source_endpoint": source_effective,
            **checkpoint_arguments(part),
        }
        options = RepairOptions(
            statuses=wanted, dry_run=dry_run, concurrency=concurrency, shard=part
        )
        run = StageRun(
            stage=STAGE,
            verb="processed",
            source=str(to),
            arguments=arguments,
            **cli.output_fields(output, checkpoint, restart, progress, quiet, output_format),
            **records.run_fields(part),
            judge=judge,
            throughput=True,
        )
        if checkpoint:
            run.before_restart = lambda: _abort_previous_uploads(checkpoint, target_store)
        try:
            return run_stage(
                run,
                lambda cursor: RepairPipeline(
                    records.reader, to, origin, copier, verifier, options, cursor
                ),
            )
        finally:
            part_pool.shutdown(wait=False, cancel_futures=True)

    cli.run_main(STAGE, debug, body, {"--output": output, "--checkpoint": checkpoint})


def _abort_previous_uploads(checkpoint: str, target: Store) -> None:
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


def main() -> None:
    cli.launch(app, STAGE)


if __name__ == "__main__":
    main()
