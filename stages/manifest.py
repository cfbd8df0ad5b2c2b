"""s3-manifest: list a bucket, a prefix or a local directory as object records."""

from __future__ import annotations

from typing import Annotated

import typer

from stages import cli

DEFAULT_RUN_SIZE = 100_000  # as lib/io/extsort.py, which --help does not import
STAGE = "s3-manifest"  # lib/pipelines/manifest_plan.py's STAGE, without importing it for --help
app = cli.new_app("List a bucket, a prefix or a local directory as object records.")


@app.command(cls=cli.Command)
def manifest(
    ctx: typer.Context,
    location: Annotated[
        str | None,
        typer.Argument(
            metavar="LOCATION",
            help="s3://bucket[/prefix], file:///path or a local directory (optional with "
            "--inventory: then it only selects a prefix of the report's bucket).",
        ),
    ] = None,
    output: cli.Output = "-",
    output_format: cli.OutputFormat = cli.Format.ndjson,
    checkpoint: cli.CheckpointPath = None,
    restart: cli.Restart = False,
    versions: Annotated[
        bool, typer.Option("--versions", help="List every version and delete marker.")
    ] = False,
    include: Annotated[
        list[str] | None,
        typer.Option(
            "--include", metavar="GLOB", help="Only keys (below the prefix) matching this glob."
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            metavar="GLOB",
            help="Leave out keys (below the prefix) matching this glob.",
        ),
    ] = None,
    md5: Annotated[
        bool, typer.Option("--md5", help="Local directories: compute each file's MD5 as etag.")
    ] = False,
    page_size: cli.PageSize = 1000,
    inventory: cli.InventoryUrl = None,
    url_encoded_keys: cli.UrlEncodedKeys = False,
    keys: cli.KeysFile = None,
    temp_dir: cli.TempDir = None,
    sort_buffer: cli.SortBuffer = DEFAULT_RUN_SIZE,
    publish_to: Annotated[
        str | None,
        typer.Option(
            "--publish",
            metavar="URL",
            help="When the listing completes, publish the -o file as gzip NDJSON at URL "
            "(s3://bucket/key.gz or a local path), atomically.",
        ),
    ] = None,
    from_published: Annotated[
        str | None,
        typer.Option(
            "--from-published",
            metavar="URL",
            help="Emit the manifest published at URL instead of listing, if it is complete, "
            "of LOCATION and younger than --max-age; otherwise list live.",
        ),
    ] = None,
    max_age: Annotated[
        str,
        typer.Option("--max-age", metavar="AGE", help="With --from-published: 90s, 30m, 24h, 7d."),
    ] = "24h",
    parallel: cli.Parallel = 1,
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
    """List LOCATION as NDJSON records: a header, one object record per object (in
    S3 key order), and a summary. Memory stays flat however many objects there are;
    with --checkpoint a killed run resumes from its last listed key (with -o FILE;
    to stdout a rerun lists again from the start, so that its readers get a whole
    stream, and a downstream --checkpoint skips what it already did).

    --parallel N cuts the key space into ranges at the prefix's "directories" (and
    splits ranges while listing) and lists N at once; the output is the same as
    without it. --shard K/N lists only the K-th of
    N disjoint key ranges (found from the prefix's "directories"), so N machines
    can split one bucket: the union of their outputs, sorted, is the whole listing.

    Local directories list regular files (symlinks are skipped) with keys relative
    to the directory, using / as separator.

    --inventory reads an S3 Inventory report (CSV, Parquet, ORC) instead of listing: its
    manifest.json in S3, or a local copy with its data files beside it. --keys
    turns a plain list of full keys (one per line, - for stdin) into records
    without any request: size, etag and last_modified are null, and s3-check
    then checks existence only. Both are written in S3 key order, sorted on disk
    (--temp-dir) when the input is not.

    \b
    Examples:
      s3-manifest s3://my-bucket/logs/ -o logs.ndjson --checkpoint logs.ck
      s3-manifest s3://my-bucket --versions | head
      s3-manifest s3://my-bucket/logs/ --parallel 8 -o logs.ndjson
      s3-manifest s3://my-bucket --shard 2/4 -o part-2.ndjson --checkpoint part-2.ck
      s3-manifest /srv/backup --md5 --include '*.tar' -o backup.ndjson.gz
      s3-manifest --inventory s3://inv/src/daily/2026-11-21T01-00Z/manifest.json -o src.ndjson
      s3-manifest s3://src/logs/ --inventory ./daily/2026-11-21T01-00Z/manifest.json --versions
      s3-manifest s3://my-bucket/ --keys keys.txt | s3-check --mode head
      s3-manifest s3://my-bucket --versions --format s3-batch-csv -o batch.csv
      s3-manifest s3://src -o src.ndjson.gz --checkpoint src.ck --publish s3://meta/src.ndjson.gz
      s3-manifest s3://src --from-published s3://meta/src.ndjson.gz --max-age 24h -o src.ndjson
    """

    from lib.pipelines.manifest_plan import ManifestRequest, plan_manifest
    from lib.pipelines.plan import run_plan

    request = cli.request(ManifestRequest, ctx)
    common = cli.common(ctx)
    cli.run_main(STAGE, common, debug, lambda: run_plan(plan_manifest(request, common)))


def main() -> None:
    cli.launch(app, STAGE)


if __name__ == "__main__":
    main()
