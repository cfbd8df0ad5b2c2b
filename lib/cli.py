"""What the four typer apps share: common options and the error boundary.

Every stage's command body runs inside `run_main`, which turns a StageError
into one `s3-xxx: error: ...` line (plus a hint) and its exit code. Tracebacks
appear only with --debug; typer's locals display stays off because locals can
hold credentials.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import shlex
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, NoReturn

import typer
import typer.core

from lib import logs
from lib.errors import ExitCode, StageError, UsageError, redact
from lib.ndjson import RecordReader, open_input, peek_summary, refuse_same_file
from lib.records import Header, header_as_dict, new_decoder
from lib.s3 import S3Config
from lib.shard import Shard, estimated_total


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
    """The values of --format (lib/batchcsv.py writes s3-batch-csv)."""

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
    """The values of --progress-format (lib/logs.py writes json)."""

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


def s3_config(
    endpoint_url: str | None,
    profile: str | None,
    region: str | None,
    connections: int = 16,
    *,
    max_attempts: int = 10,
) -> S3Config:
    return S3Config(
        endpoint_url=endpoint_url,
        profile=profile,
        region=region,
        max_connections=connections,
        max_attempts=max_attempts,
    )


@dataclass
class RecordInput:
    """A stage's input records, with the upstream header they came with."""

    path: str
    reader: RecordReader
    header: Header | None
    seekable: bool

    def identity(self) -> dict[str, Any]:
        """What a checkpoint remembers of the input, to refuse another one.

        A file is known by its header line (which holds its start time); a pipe is
        replayed on resume, and the running hash of its records decides.
        """
        header_line = self.reader.header_line if self.seekable else b""
        return {
            "input": redact(self.path),
            "input_source": self.header.source if self.header else None,
            "input_header": hashlib.sha256(header_line).hexdigest() if header_line else None,
        }

    def run_fields(self, shard: Shard | None = None) -> dict[str, Any]:
        """StageRun's fields that come from the input: the upstream header and the total
        (a shard's estimated part of it)."""
        summary = peek_summary(self.path) if self.seekable else None
        total = sum(summary.counts.values()) if summary else None
        upstream = header_as_dict(self.header) if self.header else None
        if upstream is not None and isinstance(upstream.get("source"), str):
            upstream["source"] = redact(upstream["source"])  # written by anything
        return {
            "upstream": upstream,
            "total": estimated_total(total, shard),
        }


# What each stage's input comes from, for the note shown when stdin is a terminal.
UPSTREAM = {
    "s3-check": "s3-manifest's output (object records)",
    "s3-repair": "s3-check's output (check records)",
    "s3-delete": "s3-manifest's or s3-check's output",
}


def open_records(
    path: str, stage: str, *, skip_bad_lines: bool, output: str | None = None
) -> RecordInput:
    """The input records, refused if `output` is the same file (before it is opened)."""
    if path == "-" and sys.stdin.isatty():
        # Like cat, but say so: a newcomer would otherwise wait on a silent terminal.
        logs.note(
            stage,
            "reading records from stdin (a terminal); pass -i FILE, or pipe "
            f"{UPSTREAM.get(stage, 'records')} in; Ctrl-D ends input",
        )
    stream, seekable = open_input(path)
    if output is not None:
        refuse_same_file(stream, output)
    name = "stdin" if path == "-" else f"input {path}"
    reader = RecordReader(
        stream,
        new_decoder(),
        stage=stage,
        skip_bad_lines=skip_bad_lines,
        seekable=seekable,
        name=name,
    )
    return RecordInput(path, reader, reader.read_header(), seekable)


def parse_statuses(
    values: list[str] | None,
    allowed: tuple[str, ...],
    refused: dict[str, str] | None = None,
    example: str = "missing",
) -> frozenset[str]:
    """The --status values, checked against `allowed`; `refused` maps a status to why not."""
    wanted = frozenset(values or [])
    unknown = sorted(wanted.difference(allowed))
    if unknown:
        close = difflib.get_close_matches(unknown[0], allowed, n=1)
        raise UsageError(
            f"unknown --status {', '.join(unknown)}; one of {', '.join(allowed)}",
            hint=f"did you mean --status {close[0]}?" if close else f"e.g. --status {example}",
        )
    for status, why in (refused or {}).items():
        if status in wanted:
            raise UsageError(f"--status {status}: {why}")
    return wanted


def output_fields(
    output: str,
    checkpoint: str | None,
    restart: bool,
    progress: bool,
    quiet: bool,
    output_format: Format = Format.ndjson,
) -> dict[str, Any]:
    """StageRun's fields from the options every stage shares."""
    return {
        "output": output,
        "output_format": Format(output_format).value,
        "checkpoint": checkpoint,
        "restart": restart,
        "progress": progress,
        "quiet": quiet,
    }


def check_directories(files: dict[str, str | None]) -> None:
    """Refuses (exit 2) an option's local file whose directory is missing or not writable,
    before any request: a typo in -o or --checkpoint is a usage error, not a failed run."""
    for option, path in files.items():
        if not path or path == "-" or ("://" in path and not path.startswith("file://")):
            continue
        directory = os.path.dirname(os.path.abspath(path.removeprefix("file://")))
        if not os.path.exists(directory):
            raise UsageError(
                f"{option} {path}: directory {directory} does not exist",
                hint=f"create it (mkdir -p {shlex.quote(directory)}) or give another path",
            )
        if not os.path.isdir(directory):
            raise UsageError(f"{option} {path}: {directory} is not a directory")
        if not os.access(directory, os.W_OK | os.X_OK):
            raise UsageError(f"{option} {path}: directory {directory} is not writable")


def run_main(
    stage: str,
    debug: bool,
    body: Callable[[], ExitCode],
    files: dict[str, str | None] | None = None,
) -> NoReturn:
    """Runs a stage's body and exits with its code; errors become one clear line.

    `files` maps options to the local files the stage will write (-o, --checkpoint),
    whose directories are checked first."""
    try:
        check_directories(files or {})
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
