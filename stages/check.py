"""s3-check: classify expected object records against a bucket or a local directory."""

from __future__ import annotations

from typing import Annotated

import typer

from stages import cli

STAGE = "s3-check"  # lib/pipelines/check_plan.py's STAGE, without importing it for --help
app = cli.new_app("Verify objects against expected object records.")


@app.command(cls=cli.Command)
def check(
    ctx: typer.Context,
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

    from lib.pipelines.check_plan import CheckRequest, plan_check
    from lib.pipelines.plan import run_plan

    request = cli.request(CheckRequest, ctx)
    common = cli.common(ctx)
    cli.run_main(STAGE, common, debug, lambda: run_plan(plan_check(request, common)))


def main() -> None:
    cli.launch(app, STAGE)


if __name__ == "__main__":
    main()
