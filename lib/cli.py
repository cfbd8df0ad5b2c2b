"""What the four typer apps share: common options and the error boundary.

Every stage's command body runs inside `run_main`, which turns a StageError
into one `s3-xxx: error: ...` line (plus a hint) and its exit code. Tracebacks
appear only with --debug; typer's locals display stays off because locals can
hold credentials.
"""

from __future__ import annotations

import hashlib
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, NoReturn

import typer

from lib import logs
from lib.errors import ExitCode, StageError, UsageError
from lib.ndjson import RecordReader, open_input, peek_summary
from lib.records import Header, header_as_dict, new_decoder
from lib.s3 import S3Config
from lib.shard import Shard, estimated_total


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
        "--input", "-i", metavar="FILE", help="Read records from this file or URL, or - for stdin."
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
        help="S3-compatible server URL (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, AWS).",
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
            "input": self.path,
            "input_source": self.header.source if self.header else None,
            "input_header": hashlib.sha256(header_line).hexdigest() if header_line else None,
        }

    def run_fields(self, shard: Shard | None = None) -> dict[str, Any]:
        """StageRun's fields that come from the input: the upstream header and the total
        (a shard's estimated part of it)."""
        summary = peek_summary(self.path) if self.seekable else None
        total = sum(summary.counts.values()) if summary else None
        return {
            "upstream": header_as_dict(self.header) if self.header else None,
            "total": estimated_total(total, shard),
        }


def open_records(path: str, stage: str, *, skip_bad_lines: bool) -> RecordInput:
    stream, seekable = open_input(path)
    reader = RecordReader(
        stream, new_decoder(), stage=stage, skip_bad_lines=skip_bad_lines, seekable=seekable
    )
    return RecordInput(path, reader, reader.read_header(), seekable)


def parse_statuses(
    values: list[str] | None, allowed: tuple[str, ...], refused: dict[str, str] | None = None
) -> frozenset[str]:
    """The --status values, checked against `allowed`; `refused` maps a status to why not."""
    wanted = frozenset(values or [])
    unknown = wanted.difference(allowed)
    if unknown:
        raise UsageError(
            f"unknown --status {', '.join(sorted(unknown))}; one of {', '.join(allowed)}"
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


def run_main(stage: str, debug: bool, body: Callable[[], ExitCode]) -> NoReturn:
    """Runs a stage's body and exits with its code; errors become one clear line."""
    try:
        code = body()
    except StageError as exc:
        if debug:
            traceback.print_exc()
        logs.log(stage, "error", exc.message, exc.hint)
        code = exc.exit_code
    except KeyboardInterrupt:
        logs.log(stage, "warning", "interrupted")
        code = ExitCode.SIGINT
    except OSError as exc:
        if debug:
            traceback.print_exc()
        logs.log(stage, "error", str(exc))
        code = ExitCode.FATAL
    except Exception as exc:
        if debug:
            traceback.print_exc()
        hint = None if debug else "rerun with --debug for a traceback"
        logs.log(stage, "error", f"unexpected {type(exc).__name__}: {exc}", hint)
        code = ExitCode.FATAL
    raise typer.Exit(int(code))


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
