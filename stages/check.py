"""s3-check: classify expected object records against a bucket or a local directory."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from lib import cli
from lib.check import (
    MODES,
    STATUSES,
    CheckOptions,
    CheckPipeline,
    KeyMap,
    judge,
    listing_location,
    source_of,
)
from lib.errors import ExitCode, UsageError
from lib.location import parse_location
from lib.records import DataRecord
from lib.runner import StageRun, run_stage
from lib.s3 import make_client
from lib.shard import checkpoint_arguments, parse_shard
from lib.stores import Stores

STAGE = "s3-check"

app = cli.new_app("Verify objects against expected object records.")


@app.command(cls=cli.Command)
def check(
    target: Annotated[
        str | None,
        typer.Argument(
            metavar="TARGET",
            help="s3://bucket[/prefix] or a local directory to check; default: each "
            "record's own bucket and key.",
        ),
    ] = None,
    input_path: cli.InputPath = "-",
    output: cli.Output = "-",
    output_format: cli.OutputFormat = cli.Format.ndjson,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            metavar="MODE",
            help="list: merge with a listing of TARGET (sorted input; finds extras). "
            "head: one HEAD per record. read: HEAD and download, recompute MD5/ETag/checksums.",
        ),
    ] = "list",
    status: Annotated[
        list[str] | None,
        typer.Option("--status", metavar="STATUS", help="Only write records with this status."),
    ] = None,
    part_size: Annotated[
        int | None,
        typer.Option(
            "--part-size",
            metavar="BYTES",
            min=1,
            help="Part size for multipart ETags of local files (default: ask S3).",
        ),
    ] = None,
    concurrency: cli.Concurrency = 16,
    page_size: cli.PageSize = 1000,
    parallel: cli.Parallel = 1,
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
    """Read object records (a manifest) and write one check record per object, with
    status ok, missing, extra, size_mismatch, etag_mismatch, checksum_mismatch,
    unverified, unreadable or error. Exit code 0 only when every object is ok.
    unverified: the sizes match but the content could not be compared (ETags of
    different part layouts, or no usable hash); --mode read resolves it, recomputing
    the ETag in the expected object's part layout.

    With TARGET, a record's key is moved from the input's source prefix to TARGET's
    prefix, so a manifest of the source verifies a replica. Extras after the last
    expected key are reported only when the input ends with a complete summary, and
    extras only inside what the input covers (its header's --include/--exclude,
    --shard or --keys; holes marked by error records).

    \b
    Examples:
      s3-manifest s3://src/data/ | s3-check s3://dst/backup/
      s3-manifest s3://src/ --parallel 8 | s3-check s3://dst/ --parallel 8
      s3-check s3://dst/backup/ -i src.ndjson -o chk.ndjson --checkpoint chk.ck
      s3-check -i old.ndjson --mode head --status missing
      s3-manifest /srv/files | s3-check s3://bucket/files/ --mode read
      s3-check s3://dst/ -i src.ndjson --status missing --format s3-batch-csv -o missing.csv
      parallel s3-check s3://dst/backup/ -i src.ndjson --shard {}/4 -o chk-{}.ndjson ::: 0 1 2 3

    With --shard K/N, only the target keys that hash to K are checked (on both sides
    of list mode, which still lists all of TARGET); the N outputs together are the
    output of one run.

    --parallel N lists TARGET in list mode as N ordered key ranges at once (as
    s3-manifest --parallel does); the output is the same as without it, and a
    resumed run may use another N.
    """

    def body() -> ExitCode:
        if mode not in MODES:
            raise UsageError(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
        wanted = cli.parse_statuses(status, STATUSES)
        part = parse_shard(shard)
        where = parse_location(target) if target else None
        records = cli.open_records(input_path, STAGE, skip_bad_lines=skip_bad_lines, output=output)
        source = source_of(records.header.source if records.header else None)
        listing = listing_location(where, source) if mode == "list" else None
        if parallel > 1 and (listing is None or not listing.is_s3):
            raise UsageError("--parallel applies to list mode with an S3 TARGET only")
        connections = max(concurrency, parallel) + 4
        client = make_client(cli.s3_config(endpoint_url, profile, region, connections))
        stores = Stores(client)
        for location in (listing, where):
            if location is not None:
                stores.get(location.bucket).check_bucket()
        arguments: dict[str, Any] = {
            "target": str(where) if where else None,
            **records.identity(),
            "output": output,
            "mode": mode,
            "status": sorted(wanted),
            "part_size": part_size,
            "endpoint": client.meta.endpoint_url,
            **checkpoint_arguments(part),
            # --parallel is left out: it does not change the output, so a resumed run
            # may use another N.
        }
        options = CheckOptions(
            mode=mode,
            part_size=part_size,
            concurrency=concurrency,
            page_size=page_size,
            parallel=parallel,
            shard=part,
        )
        run = StageRun(
            stage=STAGE,
            verb="checked",
            source=str(where or listing or source or "-"),
            arguments=arguments,
            **cli.output_fields(output, checkpoint, restart, progress, quiet, output_format),
            **records.run_fields(part),
            judge=judge,
            keep=_status_filter(wanted),
            throughput=mode == "read",
        )
        keymap = KeyMap(source, where)
        return run_stage(
            run,
            lambda cursor: CheckPipeline(records.reader, keymap, listing, stores, options, cursor),
        )

    cli.run_main(STAGE, debug, body, {"--output": output, "--checkpoint": checkpoint})


def _status_filter(wanted: frozenset[str]) -> Any:
    if not wanted:
        return None

    def keep(record: DataRecord) -> bool:
        return getattr(record, "status", "error") in wanted

    return keep


def main() -> None:
    cli.launch(app, STAGE)


if __name__ == "__main__":
    main()
