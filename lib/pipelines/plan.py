"""What a stage runs: a Plan, made by one plan function per pipeline from the stage's
options (lib/pipelines/check_plan.py, delete_plan.py, repair_plan.py, manifest_plan.py).

A plan function checks the options, opens the input, makes the clients, checks the
buckets, and returns the pipeline's builder with the StageRun the runner needs: the
header's source and upstream, and the checkpoint `arguments` a resumed run must match.
A stage parses its command line into a request and a `Common` and calls
`run_plan(plan_x(...))`; tests call the same functions.
"""

from __future__ import annotations

import difflib
import os
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from lib.engine.inputs import RecordInput, open_records
from lib.engine.runner import Pipeline, StageRun, run_stage
from lib.engine.shard import Shard, checkpoint_arguments
from lib.leaves.errors import ExitCode, UsageError
from lib.stores.s3 import S3Config

# Makes the pipeline, given the cursor a checkpoint saved (None: from the start).
Build = Callable[[dict[str, Any] | None], Pipeline]


@dataclass(frozen=True)
class Common:
    """The options every stage shares (the input ones only for stages that read records)."""

    output: str = "-"
    output_format: str = "ndjson"  # or "s3-batch-csv"
    checkpoint: str | None = None
    restart: bool = False
    progress: bool = True
    quiet: bool = False
    endpoint_url: str | None = None
    profile: str | None = None
    region: str | None = None
    input: str = "-"
    skip_bad_lines: bool = False

    def run_fields(self) -> dict[str, Any]:
        """StageRun's fields from these options."""
        return {
            "output": self.output,
            "output_format": str(self.output_format),
            "checkpoint": self.checkpoint,
            "restart": self.restart,
            "progress": self.progress,
            "quiet": self.quiet,
        }

    def s3_config(
        self, connections: int = 16, *, max_attempts: int = 10, endpoint_url: str | None = None
    ) -> S3Config:
        return S3Config(
            endpoint_url=endpoint_url or self.endpoint_url,
            profile=self.profile,
            region=self.region,
            max_connections=connections,
            max_attempts=max_attempts,
        )

    def open_records(self, stage: str) -> RecordInput:
        """The input records (-i), refused if they are the output file."""
        return open_records(
            self.input, stage, skip_bad_lines=self.skip_bad_lines, output=self.output
        )


@dataclass
class Plan:
    """One run of a stage, ready to start."""

    run: StageRun
    build: Build
    after: Callable[[], None] | None = None  # once the run has ended (s3-manifest --publish)
    close: Callable[[], None] | None = None  # in any case, last (thread pools)


def run_plan(plan: Plan) -> ExitCode:
    """Runs a plan to its end and returns the exit code; StageError propagates."""
    try:
        code = run_stage(plan.run, plan.build)
        if plan.after is not None:
            plan.after()
        return code
    finally:
        if plan.close is not None:
            plan.close()


def reading_run(
    records: RecordInput,
    shard: Shard | None,
    common: Common,
    arguments: dict[str, Any],
    **fields: Any,
) -> StageRun:
    """The StageRun of a stage that reads records (s3-check, s3-repair, s3-delete).

    Its checkpoint arguments are the stage's own `arguments` and those all three have:
    the input it reads, the output and the shard; `fields` are StageRun's other fields.
    """
    return StageRun(
        arguments={
            **arguments,
            **records.identity(),
            "output": common.output,
            **checkpoint_arguments(shard),
        },
        **common.run_fields(),
        **records.run_fields(shard),
        **fields,
    )


def parse_statuses(
    values: Iterable[str],
    allowed: tuple[str, ...],
    refused: dict[str, str] | None = None,
    example: str = "missing",
) -> frozenset[str]:
    """The --status values, checked against `allowed`; `refused` maps a status to why not."""
    wanted = frozenset(values)
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
