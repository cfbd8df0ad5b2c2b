"""A stage's input records: the reader, the upstream header, and what a checkpoint
remembers of them."""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from typing import Any

from lib.engine import logs
from lib.engine.shard import Shard, estimated_total
from lib.io.ndjson import RecordReader, open_input, peek_summary, refuse_same_file
from lib.leaves.errors import redact
from lib.leaves.records import Header, header_as_dict, new_decoder


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
