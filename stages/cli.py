"""What the four typer apps share: the app, the shared options' values, and the error
boundary. Only this side of s3deep knows typer: each stage hands the plain values of
its options to a plan function in lib (lib/pipelines/plan.py).

Every stage's command body runs inside `run_main`, which turns a StageError
into one `s3-xxx: error: ...` line (plus a hint) and its exit code. Tracebacks
appear only with --debug; typer's locals display stays off because locals can
hold credentials.
"""

from __future__ import annotations

import dataclasses
import sys
import traceback
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
import typer.core

from lib.engine import collector, logs
from lib.leaves.errors import ExitCode, StageError, redact

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from lib.pipelines.plan import Common

Request = TypeVar("Request", bound="DataclassInstance")


class Command(typer.core.TyperCommand):
    """A stage's command: its usage line shows a required argument as TARGET, the way
    man pages and other tools do, not as typer's {TARGET}."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = super().collect_usage_pieces(ctx)
        return [piece.removeprefix("{").removesuffix("}") for piece in pieces]


def new_app(help_text: str) -> typer.Typer:
    return typer.Typer(
        add_completion=False,
        help=help_text,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        pretty_exceptions_show_locals=False,
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    )


Output = Annotated[
    str,
    typer.Option(
        "--output",
        "-o",
        metavar="FILE",
        help="Write records to this file (.gz: gzip, .zst: zstd) or - for stdout.",
    ),
]


class Format(StrEnum):
    """The values of --format (lib/io/batchcsv.py writes s3-batch-csv)."""

    ndjson = "ndjson"
    s3_batch_csv = "s3-batch-csv"


OutputFormat = Annotated[
    Format,
    typer.Option(
        "--format",
        help="ndjson (records), or s3-batch-csv: Bucket,Key[,VersionId] rows of the objects "
        "the records name, an S3 Batch Operations manifest (no header, summary or errors).",
    ),
]
InputPath = Annotated[
    str,
    typer.Option(
        "--input",
        "-i",
        metavar="FILE",
        help="Read records from this file, FIFO or URL (.gz, .zst: decompressed), or - for stdin; "
        "never the output file.",
    ),
]
Concurrency = Annotated[
    int, typer.Option("--concurrency", metavar="N", min=1, max=256, help="Requests in flight.")
]
MAX_PARALLEL = 64  # --parallel: list streams of one process
Parallel = Annotated[
    int,
    typer.Option(
        "--parallel",
        metavar="N",
        min=1,
        max=MAX_PARALLEL,
        help="S3: list this many key ranges at once (the records and their order stay the same).",
    ),
]
PageSize = Annotated[
    int, typer.Option("--page-size", min=1, max=1000, metavar="N", help="Keys per list request.")
]
SkipBadLines = Annotated[
    bool,
    typer.Option(
        "--skip-bad-lines", help="Turn unreadable input lines into error records and go on."
    ),
]
ShardOption = Annotated[
    str | None,
    typer.Option(
        "--shard",
        metavar="K/N",
        help="Do only part K of N (0-based K) of the work, or 'env' to take K and N from "
        "JOB_COMPLETION_INDEX/JOB_COMPLETIONS or "
        "AWS_BATCH_JOB_ARRAY_INDEX/AWS_BATCH_JOB_ARRAY_SIZE.",
    ),
]
CheckpointPath = Annotated[
    str | None,
    typer.Option(
        "--checkpoint",
        metavar="FILE",
        help="Commit progress to this file; rerunning the same command resumes from it.",
    ),
]
Restart = Annotated[
    bool, typer.Option("--restart", help="Ignore and replace an existing checkpoint.")
]
ShowProgress = Annotated[
    bool,
    typer.Option(
        "--progress/--no-progress",
        help="Progress on stderr: a live line on a terminal, a line every 10 s otherwise.",
    ),
]


class StderrFormat(StrEnum):
    """The values of --progress-format (lib/engine/logs.py writes json)."""

    text = "text"
    json = "json"


ProgressFormat = Annotated[
    StderrFormat,
    typer.Option(
        "--progress-format",
        callback=logs.use_format,
        help="json: every stderr line is one JSON object (progress events, then one with "
        '"done": true; notes, warnings and errors as "type": "log"), for supervisors and '
        "log shippers.",
    ),
]
ProgressInterval = Annotated[
    float | None,
    typer.Option(
        "--progress-interval",
        metavar="SECONDS",
        min=0.01,
        callback=logs.use_interval,
        help="Report progress this often (default: 0.25 on a terminal, 10 otherwise).",
    ),
]
Quiet = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress and no final summary line.")
]
EndpointUrl = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        metavar="URL",
        help="S3-compatible server URL (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, AWS); "
        "a user:password in it is dropped, never used or shown.",
    ),
]
Profile = Annotated[
    str | None, typer.Option("--profile", metavar="NAME", help="AWS profile to use.")
]
Region = Annotated[
    str | None, typer.Option("--region", metavar="REGION", help="AWS region of the bucket.")
]
Debug = Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")]


# s3-manifest's other sources (lib/pipelines/sources.py).
InventoryUrl = Annotated[
    str | None,
    typer.Option(
        "--inventory",
        metavar="MANIFEST",
        help="Read an S3 Inventory report (CSV, Parquet, ORC): s3://bucket/.../manifest.json "
        "or a local copy of it, its data files beside it (data/ next to the dated directory).",
    ),
]
UrlEncodedKeys = Annotated[
    bool,
    typer.Option(
        "--url-encoded-keys",
        help="For a Parquet or ORC --inventory: its keys are URL-encoded (AWS encodes them in "
        "CSV reports only, so by default they are taken as they are).",
    ),
]
KeysFile = Annotated[
    str | None,
    typer.Option(
        "--keys",
        metavar="FILE",
        help="Make records of a list of full keys, one per line (- for stdin), without "
        "any request; keys must be under LOCATION's prefix.",
    ),
]
TempDir = Annotated[
    str | None,
    typer.Option(
        "--temp-dir",
        metavar="DIR",
        help="For --inventory/--keys: where data files and sorted runs go (default: TMPDIR).",
    ),
]
SortBuffer = Annotated[
    int,
    typer.Option(
        "--sort-buffer",
        metavar="N",
        min=1,
        help="For --inventory/--keys: records held in memory per sorted run on disk.",
    ),
]


def common(ctx: typer.Context) -> Common:
    """The values of the options every stage shares (above), as given."""
    from lib.pipelines.plan import Common

    params = ctx.params
    return Common(
        output=params["output"],
        output_format=str(params["output_format"]),
        checkpoint=params["checkpoint"],
        restart=params["restart"],
        progress=params["progress"],
        quiet=params["quiet"],
        endpoint_url=params["endpoint_url"],
        profile=params["profile"],
        region=params["region"],
        input=params.get("input_path", "-"),
        skip_bad_lines=params.get("skip_bad_lines", False),
    )


def request(kind: type[Request], ctx: typer.Context) -> Request:
    """A stage's own options as the request of its plan function: the command's
    parameters named as the request's fields (those not given keep the field's default)."""
    names = {field.name for field in dataclasses.fields(kind)}
    return kind(**{k: v for k, v in ctx.params.items() if k in names and v is not None})


def run_main(stage: str, common: Common, debug: bool, body: Callable[[], ExitCode]) -> NoReturn:
    """Runs a stage's body and exits with its code; errors become one clear line.

    The directories of the local files the stage will write (-o, --checkpoint) are
    checked first."""
    from lib.pipelines.plan import check_directories

    try:
        check_directories({"--output": common.output, "--checkpoint": common.checkpoint})
        code = body()
    except StageError as exc:
        _traceback(debug)
        logs.log(stage, "error", exc.message, exc.hint)
        code = exc.exit_code
    except KeyboardInterrupt:
        logs.log(stage, "warning", "interrupted")
        code = ExitCode.SIGINT
    except OSError as exc:
        _traceback(debug)
        logs.log(stage, "error", str(exc))
        code = ExitCode.FATAL
    except Exception as exc:
        _traceback(debug)
        hint = None if debug else "rerun with --debug for a traceback"
        logs.log(stage, "error", f"unexpected {type(exc).__name__}: {exc}", hint)
        code = ExitCode.FATAL
    raise typer.Exit(int(code))


def _traceback(debug: bool) -> None:
    """With --debug, the traceback of the error being handled, URL passwords hidden."""
    if debug:
        sys.stderr.write(redact(traceback.format_exc()))


def launch(app: typer.Typer, stage: str) -> None:
    """Runs a stage's app. With --progress-format json on the command line, typer's own
    errors (an unknown option, a bad value) come out as one JSON log line as well."""
    collector.pause()  # until the stage's pipeline is built (lib/engine/collector.py)
    if not logs.json_requested(sys.argv[1:]):
        app(prog_name=stage)
        return
    logs.use_format("json")
    try:
        code = app(prog_name=stage, standalone_mode=False)
    except typer.TyperException as exc:  # click's UsageError and its kin
        message = getattr(exc, "format_message", exc.__str__)()
        logs.log(stage, "error", message, f"see {stage} --help")
        code = getattr(exc, "exit_code", ExitCode.USAGE)
    except typer.Abort:
        logs.log(stage, "warning", "interrupted")
        code = ExitCode.SIGINT
    sys.exit(int(code or 0))
