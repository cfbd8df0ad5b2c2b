"""s3-delete: delete the objects named by object or check records, in batches, guarded."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from lib import cli
from lib.check import STATUSES
from lib.delete import DeleteOptions, DeletePipeline, judge
from lib.errors import ExitCode
from lib.location import parse_location
from lib.runner import StageRun, run_stage
from lib.s3 import make_client
from lib.shard import checkpoint_arguments, parse_shard
from lib.stores import store_for

STAGE = "s3-delete"

app = cli.new_app("Delete the objects named by records, in batches, within a scope.")


@app.command(cls=cli.Command)
def delete(
    scope: Annotated[
        str,
        typer.Argument(
            metavar="SCOPE",
            help="s3://bucket[/prefix] or a local directory; records outside it are never "
            "deleted (out_of_scope).",
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
            help="For check records: delete those with this status (required for them).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Delete nothing; write dry_run records.")
    ] = False,
    max_delete: Annotated[
        int | None,
        typer.Option(
            "--max-delete", metavar="N", min=0, help="Stop before the N+1-th deletion (exit 1)."
        ),
    ] = None,
    batch_size: Annotated[
        int,
        typer.Option("--batch-size", metavar="N", min=1, max=1000, help="Keys per DeleteObjects."),
    ] = 1000,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency", metavar="N", min=1, max=64, help="DeleteObjects requests in flight."
        ),
    ] = 10,
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
    """Read object records (or check records with --status) and delete each object,
    up to 1000 keys per DeleteObjects request, several requests in flight. Writes one
    delete record per input record, in input order: deleted, failed, dry_run, skipped
    or out_of_scope. A record with a version_id deletes exactly that version. A key is
    deleted only when the server's answer names exactly it (and its version).

    A key that does not exist is reported deleted, as S3's DeleteObjects reports it.
    Local directories: files are removed, and so are the directories that removal left
    empty (never SCOPE itself); keys with .. or a symlink on their path are refused.

    \b
    Examples:
      s3-manifest s3://b/old-test/ | s3-delete s3://b/old-test/
      s3-check s3://dst/ -i src.ndjson --status extra | s3-delete s3://dst/ --status extra --dry-run
      s3-delete s3://dst/ -i chk.ndjson --status extra --max-delete 1000 -o del.ndjson
      s3-delete s3://dst/ -i chk.ndjson --status extra --dry-run --format s3-batch-csv
      parallel s3-delete s3://b/old/ -i old.ndjson --shard {}/4 -o del-{}.ndjson ::: 0 1 2 3

    With --shard K/N, only the records whose key hashes to K are processed (the
    others are left out of the output); --max-delete then applies to each shard.
    """

    def body() -> ExitCode:
        refused = {"ok": "deleting objects that were verified intact is refused"}
        wanted = cli.parse_statuses(status, STATUSES, refused, example="extra")
        part = parse_shard(shard)
        where = parse_location(scope)
        records = cli.open_records(input_path, STAGE, skip_bad_lines=skip_bad_lines, output=output)
        client = None
        if where.is_s3:
            # Few botocore retries: throttling must reach the adaptive window quickly.
            config = cli.s3_config(endpoint_url, profile, region, concurrency + 4, max_attempts=3)
            client = make_client(config)
        store = store_for(where, client)
        store.check_bucket()
        arguments: dict[str, Any] = {
            "scope": str(where),
            **records.identity(),
            "output": output,
            "status": sorted(wanted),
            "dry_run": dry_run,
            "max_delete": max_delete,
            "endpoint": client.meta.endpoint_url if client else None,
            **checkpoint_arguments(part),
        }
        options = DeleteOptions(
            statuses=wanted,
            dry_run=dry_run,
            max_delete=max_delete,
            batch_size=batch_size,
            concurrency=concurrency,
            shard=part,
        )
        run = StageRun(
            stage=STAGE,
            verb="processed",
            source=str(where),
            arguments=arguments,
            **cli.output_fields(output, checkpoint, restart, progress, quiet, output_format),
            **records.run_fields(part),
            judge=judge,
        )
        return run_stage(run, lambda cursor: DeletePipeline(records.reader, store, options, cursor))

    cli.run_main(STAGE, debug, body, {"--output": output, "--checkpoint": checkpoint})


def main() -> None:
    cli.launch(app, STAGE)


if __name__ == "__main__":
    main()
