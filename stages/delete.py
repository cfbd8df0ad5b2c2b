"""s3-delete: delete the objects named by object or check records, in batches, guarded."""

from __future__ import annotations

from typing import Annotated

import typer

from stages import cli

STAGE = "s3-delete"  # lib/pipelines/delete_plan.py's STAGE, without importing it for --help
app = cli.new_app("Delete the objects named by records, in batches, within a scope.")


@app.command(cls=cli.Command)
def delete(
    ctx: typer.Context,
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

    from lib.pipelines.delete_plan import DeleteRequest, plan_delete
    from lib.pipelines.plan import run_plan

    request = cli.request(DeleteRequest, ctx)
    common = cli.common(ctx)
    cli.run_main(STAGE, common, debug, lambda: run_plan(plan_delete(request, common)))


def main() -> None:
    cli.launch(app, STAGE)


if __name__ == "__main__":
    main()
