"""What a stream covers, and where s3-check may therefore call an object `extra`.

A manifest made with `--include`/`--exclude`, `--shard` or `--keys` speaks for part
of its source only. Its header says which part (`Header.coverage`), in keys relative
to the header's source prefix, so the same description holds for a TARGET that the
keys are mapped to:

    include, exclude   globs, as s3-manifest's options (matched below the prefix)
    after, upto        a key range: keys > after and <= upto (a shard's bounds)
    shard              "K/N", for people reading the header
    keys               true: a key list, which speaks for no other key at all

`error` records with a `key` mark holes (a key, or a "directory" ending in "/") where
they occur; an error record without a key leaves the coverage unknown from there on.
A coverage field this version does not know also means "unknown": an `extra` is a
delete order, so doubt means silence.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from lib.leaves.records import ErrorRecord, Header
from lib.stores.ranges import KeyRange

KNOWN_FIELDS = frozenset({"include", "exclude", "after", "upto", "shard", "keys"})


def declared(
    prefix: str,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    bounds: KeyRange | None = None,
    shard: str | None = None,
    keys: bool = False,
) -> dict[str, Any] | None:
    """The header's `coverage` for a listing of `prefix` limited this way; None if whole."""
    coverage: dict[str, Any] = {}
    if include:
        coverage["include"] = list(include)
    if exclude:
        coverage["exclude"] = list(exclude)
    if bounds is not None:
        coverage["shard"] = shard
        coverage["after"] = None if bounds.after is None else bounds.after.removeprefix(prefix)
        coverage["upto"] = None if bounds.upto is None else bounds.upto.removeprefix(prefix)
    if keys:
        coverage["keys"] = True
    return coverage or None


class Coverage:
    """The part of a listed target that an input speaks for, in the target's keys.

    `source_prefix` is the input's source prefix (what error records' keys start with),
    `target_prefix` the prefix of the listing the merge reads.
    """

    def __init__(
        self, coverage: dict[str, Any] | None, source_prefix: str, target_prefix: str
    ) -> None:
        from lib.pipelines.manifest import (
            key_filter,  # lib.pipelines.manifest declares its coverage with this module
        )

        coverage = coverage or {}
        self.source_prefix = source_prefix
        self.target_prefix = target_prefix
        self.limits = _describe(coverage)
        self.unknown: str | None = None
        unknown = sorted(set(coverage) - KNOWN_FIELDS)
        if unknown:
            self.unknown = f"its header declares a coverage this version does not know ({unknown})"
        self._nothing = bool(coverage.get("keys"))
        self._keep = key_filter("", coverage.get("include") or [], coverage.get("exclude") or [])
        self._range = KeyRange(coverage.get("after"), coverage.get("upto"))
        self._hole_keys: set[str] = set()
        self._hole_prefixes: set[str] = set()

    @classmethod
    def of(cls, header: Header | None, source_prefix: str, target_prefix: str) -> Coverage:
        return cls(header.coverage if header else None, source_prefix, target_prefix)

    def note(self) -> str | None:
        """The stderr line that says extras are limited, if they are."""
        if self.unknown:
            return f"the input's coverage is unknown ({self.unknown}): no extras are reported"
        if self._nothing:
            return "the input is a key list, which covers no other key: no extras are reported"
        if self.limits:
            return f"input covers only {self.limits}: extras outside it are not reported"
        return None

    def add_hole(self, record: ErrorRecord, line: int) -> str | None:
        """Takes an error record of the input into account; a note the first time the
        coverage becomes unknown."""
        key = record.key
        if key is None:
            if self.unknown is not None:
                return None
            self.unknown = f"line {line}: an error record without a key"
            return (
                f"input line {line} is an error record without a key, so the input's coverage "
                "is unknown: no extras are reported from there on"
            )
        if not key.startswith(self.source_prefix):
            return None  # outside the input's source: nothing of the target is in it
        relative = key[len(self.source_prefix) :]
        if relative == "" or relative.endswith("/"):
            self._hole_prefixes.add(relative)
        else:
            self._hole_keys.add(relative)
        return None

    def holds(self, target_key: str) -> bool:
        """Whether the input speaks for this listed key, so that its absence means extra."""
        if self.unknown is not None or self._nothing:
            return False
        relative = target_key[len(self.target_prefix) :]
        if not self._range.holds(relative):
            return False
        if self._keep is not None and not self._keep(relative):
            return False
        return not self._in_hole(relative)

    def _in_hole(self, relative: str) -> bool:
        if relative in self._hole_keys:
            return True
        holes = self._hole_prefixes
        if not holes:
            return False
        if "" in holes:
            return True
        end = relative.find("/")
        while end != -1:
            if relative[: end + 1] in holes:
                return True
            end = relative.find("/", end + 1)
        return False


def _describe(coverage: dict[str, Any]) -> str:
    parts = [f"--include {shlex.quote(glob)}" for glob in coverage.get("include") or []]
    parts += [f"--exclude {shlex.quote(glob)}" for glob in coverage.get("exclude") or []]
    if coverage.get("after") is not None or coverage.get("upto") is not None:
        shard = coverage.get("shard")
        what = f"--shard {shard}: keys" if shard else "keys"
        parts.append(f"{what} after {coverage.get('after')!r} up to {coverage.get('upto')!r}")
    return " ".join(parts)
