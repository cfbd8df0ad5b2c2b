"""Pointed advice for a pipeline put together wrong: which stage makes the records a
stage wants, and which --from the records' own headers name."""

from __future__ import annotations

from typing import Any

from lib.leaves.errors import BadInput
from lib.leaves.location import Location, parse_location
from lib.leaves.records import Header, Record

# What each stage reads, and the command line that makes it.
WANTS = {
    "s3-check": ("object records (s3-manifest's output)", "s3-manifest SOURCE | s3-check TARGET"),
    "s3-repair": (
        "check records (s3-check's output)",
        "s3-check TARGET -i MANIFEST | s3-repair TARGET --from SOURCE",
    ),
    "s3-delete": (
        "object records, or check records with --status",
        "s3-check TARGET -i MANIFEST --status extra | s3-delete TARGET --status extra",
    ),
}


def wrong_records(stage: str, line: int, record: Record) -> BadInput:
    """The error for a record of a kind `stage` does not read, with the pipeline it needs."""
    kind = type(record).__name__.removesuffix("Record").lower()
    article = "an" if kind[0] in "aeiou" else "a"
    wanted, pipeline = WANTS[stage]
    error = BadInput(line, f"{stage} reads {wanted}, not {article} {kind} record")
    error.hint = f"run {pipeline}"
    return error


def check_records_need_status(line: int) -> BadInput:
    error = BadInput(line, "check records need --status to say which statuses to delete")
    error.hint = "add --status extra to delete what s3-check found only in the target"
    return error


def listed_source(header: Header | None) -> str | None:
    """The location the s3-manifest at the head of the input's pipeline listed."""
    link: Any = header
    while link is not None:
        stage = link.get("stage") if isinstance(link, dict) else link.stage
        if stage == "s3-manifest":
            source = link.get("source") if isinstance(link, dict) else link.source
            return source if isinstance(source, str) else None
        link = link.get("upstream") if isinstance(link, dict) else link.upstream
    return None


def source_mismatch(origin: Location, header: Header | None) -> tuple[str, str] | None:
    """(warning, hint) when --from's prefix is not the prefix of the S3 location listed, so
    every key would be looked for in the wrong place (another bucket is fine: a mirror)."""
    listed = listed_source(header)
    if listed is None or not listed.startswith("s3://") or not origin.is_s3:
        return None  # a local directory has no prefix: any path may hold the copy
    where = parse_location(listed)
    if where.prefix == origin.prefix:
        return None
    return (
        f"--from {origin} is not the location the manifest listed ({where}); keys keep "
        f"their part after TARGET's prefix, so each object is looked for under {origin}",
        f"pass --from {where} if the objects are there",
    )
