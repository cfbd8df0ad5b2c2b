"""s3-repair: copy what s3-check found missing or damaged from SOURCE to TARGET, verified."""

from __future__ import annotations

from typing import Annotated

import typer

from stages import cli

MIB = 1024 * 1024  # as lib/stores/transfer.py, which --help does not import
STAGE = "s3-repair"  # lib/pipelines/repair_plan.py's STAGE, without importing it for --help
app = cli.new_app("Copy missing or damaged objects from SOURCE to TARGET, and verify them.")


@app.command(cls=cli.Command)
def repair(
    ctx: typer.Context,
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

    from lib.pipelines.plan import run_plan
    from lib.pipelines.repair_plan import RepairRequest, plan_repair

    request = cli.request(RepairRequest, ctx)
    common = cli.common(ctx)
    cli.run_main(STAGE, common, debug, lambda: run_plan(plan_repair(request, common)))


def main() -> None:
    cli.launch(app, STAGE)


if __name__ == "__main__":
    main()
