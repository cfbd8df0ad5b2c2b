"""Parsing of locations: `s3://bucket[/prefix]`, `file:///path` or a local path."""

from __future__ import annotations

import os
from dataclasses import dataclass

from lib.leaves.errors import UsageError


@dataclass(frozen=True)
class Location:
    """Where objects live. For a local directory, `bucket` is its absolute path."""

    kind: str  # "s3" or "local"
    bucket: str
    prefix: str = ""

    @property
    def is_s3(self) -> bool:
        return self.kind == "s3"

    def __str__(self) -> str:
        if self.is_s3:
            return f"s3://{self.bucket}/{self.prefix}"
        return self.bucket


def parse_location(text: str) -> Location:
    if text.startswith("s3://"):
        bucket, _, prefix = text[len("s3://") :].partition("/")
        if not bucket:
            raise UsageError(f"no bucket in {text!r}", hint="write s3://bucket/prefix")
        return Location("s3", bucket, prefix)
    if "://" in text and not text.startswith("file://"):
        raise UsageError(
            f"unsupported location {text!r}", hint="use s3://bucket/prefix or a local directory"
        )
    path = os.path.abspath(text.removeprefix("file://"))
    return Location("local", path, "")
