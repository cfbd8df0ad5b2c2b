"""s3-manifest: list a bucket, a prefix or a local directory as object records."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from lib import cli, logs, sources
from lib import publish as published
from lib.errors import ExitCode, UsageError
from lib.extsort import DEFAULT_RUN_SIZE
from lib.keylist import SortOptions
from lib.location import parse_location
from lib.manifest import ManifestOptions, ManifestPipeline, judge
from lib.ndjson import is_stream
from lib.runner import Pipeline, StageRun, run_stage
from lib.s3 import make_client
from lib.shard import parse_shard
from lib.stores import store_for

STAGE = "s3-manifest"

app = cli.new_app("List a bucket, a prefix or a local directory as object records.")


@app.command(cls=cli.Command)
def manifest(
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
    inventory: sources.InventoryUrl = None,
    url_encoded_keys: sources.UrlEncodedKeys = False,
    keys: sources.KeysFile = None,
    temp_dir: sources.TempDir = None,
    sort_buffer: sources.SortBuffer = DEFAULT_RUN_SIZE,
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

    def body() -> ExitCode:
        if url_encoded_keys and inventory is None:
            raise UsageError("--url-encoded-keys applies to --inventory reports")
        if (inventory is not None or keys is not None) and (parallel > 1 or shard is not None):
            raise UsageError("--parallel and --shard apply to listing S3, not --inventory/--keys")
        if inventory is not None or keys is not None:
            if md5:
                raise UsageError("--md5 applies to listing local directories")
            if publish_to or from_published:
                raise UsageError("--publish and --from-published apply to live listings")
            run, from_source = sources.plan(
                sources.SourceRequest(
                    stage=STAGE,
                    location=location,
                    inventory=inventory,
                    keys=keys,
                    versions=versions,
                    include=include or [],
                    exclude=exclude or [],
                    sort=SortOptions(run_size=sort_buffer, temp_dir=temp_dir),
                    url_encoded_keys=url_encoded_keys,
                    config=cli.s3_config(endpoint_url, profile, region),
                    output_fields=cli.output_fields(
                        output, checkpoint, restart, progress, quiet, output_format
                    ),
                ),
                judge=judge,
            )
            return run_stage(run, from_source)
        if location is None:
            raise UsageError("give LOCATION, --inventory MANIFEST or --keys FILE")
        where = parse_location(location)
        options = ManifestOptions(
            versions=versions,
            include=include or [],
            exclude=exclude or [],
            page_size=page_size,
            md5=md5,
            parallel=parallel,
            shard=parse_shard(shard),
        )
        if where.is_s3 and md5:
            raise UsageError("--md5 applies to local directories; S3 objects carry their ETag")
        if not where.is_s3 and versions:
            raise UsageError("--versions applies to S3 locations only")
        if not where.is_s3 and (parallel > 1 or shard is not None):
            raise UsageError("--parallel and --shard apply to S3 locations only")
        if versions and (parallel > 1 or shard is not None):
            # Ranges would start at KeyMarker=<boundary> without a VersionIdMarker, which
            # S3-compatible servers do not all honour (moto skips one version instead).
            raise UsageError("--versions cannot be combined with --parallel or --shard")
        if shard is not None and (publish_to or from_published):
            raise UsageError(
                "--publish and --from-published take the whole location, not a --shard"
            )
        config = cli.s3_config(endpoint_url, profile, region, max(16, parallel + 4))
        client = make_client(config) if where.is_s3 else None
        shared = published.check_options(
            publish_to, from_published, output, output_format, filtered=bool(include or exclude)
        )
        if shared and client is None:
            client = make_client(config)
        arguments: dict[str, Any] = {
            "location": str(where),
            "endpoint": client.meta.endpoint_url if client else None,
            "output": output,
            "versions": versions,
            "include": options.include,
            "exclude": options.exclude,
            "md5": md5,
            # --parallel is left out: it does not change the output, so a resumed run
            # may use another N.
        }
        if options.shard:  # only then, so that unsharded checkpoints of before still resume
            arguments["shard"] = str(options.shard)
        copy = None
        if from_published:
            copy, why = published.plan(
                from_published, where, versions=versions, md5=md5,
                max_age_s=published.parse_age(max_age), client=client,
                checkpoint=None if restart or is_stream(output) else checkpoint,
            )  # fmt: skip
            arguments["from_published"] = from_published
            if why and not quiet:
                logs.note(STAGE, why)
        run = StageRun(
            stage=STAGE,
            verb="listed",
            source=str(where),
            arguments=arguments,
            **cli.output_fields(output, checkpoint, restart, progress, quiet, output_format),
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

        code = run_stage(run, build)
        if publish_to:
            said = published.publish(output, publish_to, client)
            if not quiet:
                logs.note(STAGE, said)
        return code

    cli.run_main(STAGE, debug, body, {"--output": output, "--checkpoint": checkpoint})


def main() -> None:
    cli.launch(app, STAGE)


if __name__ == "__main__":
    main()
