"""Listing one prefix as ordered key ranges: several streams at once (`--parallel N`) or one
range out of N (`--shard K/N`), with the records still coming out in S3 key order.

A range is (after, upto]: the keys greater than `after` (None: from the prefix on) and
at most `upto` (None: no end). Its listing starts with StartAfter/KeyMarker=`after` and
stops at the first key past `upto`, so any increasing boundary strings split the key
space exactly, and all versions of one key always fall in one range. Where the
boundaries lie only decides how evenly the work spreads:

- `--parallel`: the first ranges come from one listing of the prefix's
  "directories" (Delimiter='/'; a level deeper when there are fewer than streams),
  so every stream has work from the first round trip on. Ranges are then split
  while they are listed: a worker with nothing to fetch takes the earliest range
  still being listed and probes (one key per request) for the widest subtree of
  its last key that still has keys behind it; the range keeps that subtree, a new
  range takes the rest (flat keys, or a directory far bigger than the others). The
  writer drains ranges in order; the earliest ranges fetch first, and all stop
  when the pages buffered across ranges reach the budget.
- `--shard`: all workers must agree without talking, so the boundaries come from a
  deterministic walk of the "directories" (Delimiter='/') below the prefix, cut
  into N groups of equal entry counts.
"""

from __future__ import annotations

import bisect
import re
import threading
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any
from urllib.parse import unquote_plus

from lib.engine import interrupts
from lib.leaves.flush import FLUSH, Flush
from lib.leaves.records import ObjectRecord
from lib.leaves.retry import request_failed
from lib.stores.s3 import RAW_BODY, ListingGuard, ListRequest, next_params, parse_page

PAGES_PER_RANGE = 2  # parsed pages the head range may hold past the budget
PAGES_PER_STREAM = 4  # pages buffered across all ranges, per stream
PAGES_BEFORE_SPLIT = 2  # pages a range lists before (and between) tries to split it
SEED_RANGES_PER_STREAM = 2  # ranges seeded from the directories, per stream
SEED_DEPTH = 2  # directory levels opened below the prefix when there are too few


@dataclass(frozen=True)
class KeyRange:
    after: str | None = None
    upto: str | None = None

    def holds(self, key: str) -> bool:
        return (self.after is None or key > self.after) and (self.upto is None or key <= self.upto)


def after_subtree(key: str, position: int) -> str | None:
    """The smallest string above every key that starts with key[:position + 1].

    (Python compares str by code point, which is S3's UTF-8 byte order.)
    """
    code = ord(key[position]) + 1
    if code == 0xD800:  # surrogates cannot be encoded in a key
        code = 0xE000
    if code > 0x10FFFF:
        return None
    return key[:position] + chr(code)


def shared_length(first: str, second: str) -> int:
    """How many leading characters two strings share."""
    for index, (one, other) in enumerate(zip(first, second, strict=False)):
        if one != other:
            return index
    return min(len(first), len(second))


def split_point(
    low: str,
    high: str | None,
    fixed: int,
    first_key_after: Callable[[str], str | None],
    deepest: int | None = None,
) -> str | None:
    """A boundary m with low < m < high that leaves keys on both sides, or None.

    Candidates skip ever smaller subtrees of `low` (the last key listed); whether keys
    lie past a candidate (and up to `high`) only grows as the subtree shrinks, so a
    binary search finds the widest subtree worth splitting off in a few probes.
    `fixed` is the prefix length: positions inside the prefix are never split.
    `deepest` is the last position worth trying (a subtree below the level where the
    last page's keys differ holds less than a page).
    """
    last = len(low) if deepest is None else min(len(low), max(deepest, fixed) + 1)
    candidates = [
        (position, point)
        for position in range(fixed, last)
        if (point := after_subtree(low, position)) is not None
        and (high is None or point < high)
        and len(point.encode("utf-8")) <= 1024
    ]
    # The widest candidate first: it is often right (the next "directory" has keys).
    # A key found past a candidate also lies past every candidate from the position
    # where it leaves `low` on, so one probe can settle many.
    found = None
    lo, hi, middle = 0, len(candidates) - 1, 0
    while lo <= hi:
        key = first_key_after(candidates[middle][1])
        if key is not None and (high is None or key <= high):
            leaves_at = shared_length(key, low)
            middle = next(
                i
                for i, (pos, point) in enumerate(candidates)
                if (pos >= leaves_at and point < key) or i == middle
            )
            found = candidates[middle][1]
            hi = middle - 1
        else:
            lo = middle + 1
        middle = (lo + hi) // 2
    return found


@dataclass
class _Range:
    bounds: KeyRange
    version_marker: str | None = None  # resuming inside one key's versions
    params: dict[str, Any] | None = None  # the next request; None before the first
    last_key: str | None = None  # the last key fetched
    page_first_key: str | None = None  # the first key of the last page fetched
    pages: deque[list[ObjectRecord]] = field(default_factory=deque)
    fetching: bool = False
    splitting: bool = False
    done: bool = False  # nothing more to fetch
    pages_since_split: int = 0  # pages fetched since it began or was last tried
    guard: ListingGuard | None = None  # checks its pages, from the first on


class ParallelLister:
    """Lists `request`'s prefix within `bounds` on `streams` threads, in key order.

    Iterating yields records in S3 order, and None whenever the next record is not
    there yet (so the caller can flush); memory stays within a few pages per stream.
    """

    def __init__(
        self,
        client: Any,
        request: ListRequest,
        streams: int,
        bounds: KeyRange = KeyRange(),
    ) -> None:
        self._client = client
        self._request = request
        self._call: Callable[..., Any] = getattr(
            client, "list_object_versions" if request.versions else "list_objects_v2"
        )
        self._streams = streams
        self._budget = streams * PAGES_PER_STREAM
        self._ranges = [_Range(bounds, version_marker=request.version_marker)]
        self._buffered = 0  # pages held or being fetched, across ranges
        self._lock = threading.Condition()
        self._stop = False
        self._error: BaseException | None = None
        self.requests = 0
        self.splits = 0
        self.probes = 0  # of the requests, those that looked for a split point
        self.seeded = 1  # ranges at the start, after seeding

    def _seed(self) -> None:
        """Cuts the starting range at the prefix's directories (a few requests, at once)."""
        request, head = self._request, self._ranges[0]
        if self._streams == 1 or request.versions or head.version_marker is not None:
            return

        def level(prefix: str) -> tuple[list[tuple[str, bool]], bool]:
            try:
                return list_directory_level(
                    self._client, request, prefix, start_after=head.bounds.after, max_pages=1
                )
            finally:
                with self._lock:
                    self.requests += 1

        bounds = seed_bounds(level, request.prefix, head.bounds, self._streams)
        edges = [head.bounds.after, *bounds, head.bounds.upto]
        self._ranges = [_Range(KeyRange(low, high)) for low, high in pairwise(edges)]
        self.seeded = len(self._ranges)

    # --- the reader's side ---------------------------------------------------------

    def __iter__(self) -> Iterator[ObjectRecord | Flush]:
        self._seed()
        threads = [
            threading.Thread(target=self._work, name=f"s3-list-{n}", daemon=True)
            for n in range(self._streams)
        ]
        for thread in threads:
            thread.start()
        try:
            while True:
                page = self._take(wait=False)
                if page is None:
                    yield FLUSH
                    page = self._take(wait=True)
                if not page:
                    return
                yield from page
        finally:
            with self._lock:
                self._stop = True
                self._lock.notify_all()

    def _take(self, *, wait: bool) -> list[ObjectRecord] | None:
        """The head range's next page; [] at the end; None if not there (and not waiting)."""
        with self._lock:
            while True:
                if self._error is not None:
                    raise self._error
                ranges = self._ranges
                while ranges and ranges[0].done and not ranges[0].pages:
                    ranges.pop(0)
                if not ranges:
                    return []
                if ranges[0].pages:
                    self._buffered -= 1
                    self._lock.notify_all()
                    return ranges[0].pages.popleft()
                if not wait:
                    return None
                self._lock.wait(interrupts.POLL_S)
                interrupts.raise_if_interrupted()

    # --- the workers' side ---------------------------------------------------------

    def _work(self) -> None:
        try:
            while True:
                with self._lock:
                    task = self._next_task()
                    while task is None and not self._stop:
                        self._lock.wait(interrupts.POLL_S)
                        task = self._next_task()
                    if self._stop or task is None:
                        return
                kind, chosen = task
                if kind == "fetch":
                    self._fetch(chosen)
                else:
                    self._split(chosen)
        except BaseException as exc:
            with self._lock:
                self._error = self._error or exc
                self._stop = True
                self._lock.notify_all()

    def _next_task(self) -> tuple[str, _Range] | None:
        """Under the lock: the earliest range that may fetch, else one worth splitting."""
        if self._stop:
            return None
        room = self._buffered < self._budget
        for index, candidate in enumerate(self._ranges):
            if candidate.done or candidate.fetching:
                continue
            # The earliest ranges first, any number of pages each, within the budget; the
            # head may always hold a few: the writer waits for it.
            if room or (index == 0 and len(candidate.pages) < PAGES_PER_RANGE):
                candidate.fetching = True
                self._buffered += 1
                return "fetch", candidate
        if not room or self._streams == 1:
            return None
        # Only once a range has shown itself longer than a few pages: the probes for a
        # split (a few requests) would cost more than they save on a short range. One
        # page is enough while fewer ranges are listed than there are streams.
        live = sum(not candidate.done for candidate in self._ranges)
        enough = 1 if live < self._streams else PAGES_BEFORE_SPLIT
        for candidate in self._ranges:
            if (
                not candidate.done
                and not candidate.splitting
                and candidate.pages_since_split >= enough
            ):
                candidate.splitting = True
                return "split", candidate
        return None

    def _fetch(self, chosen: _Range) -> None:
        request = self._request
        params = chosen.params
        if params is None:
            params = replace(
                request, start_after=chosen.bounds.after, version_marker=chosen.version_marker
            ).params()
        if chosen.guard is None:
            chosen.guard = ListingGuard(request, chosen.bounds.after)
        body = self._get(params)
        following = chosen.guard.follow(params, body)
        records = parse_page(body, request)
        chosen.guard.check(records)
        with self._lock:
            chosen.fetching = False
            if records:
                chosen.last_key = records[-1].key
                chosen.page_first_key = records[0].key
                chosen.pages_since_split += 1
            upto = chosen.bounds.upto  # read now: a split may have lowered it meanwhile
            if upto is not None and records and records[-1].key > upto:
                keys = [record.key for record in records]
                records = records[: bisect.bisect_right(keys, upto)]
                following = None
            chosen.params = following
            chosen.done = following is None
            if records:
                chosen.pages.append(records)
            else:
                self._buffered -= 1
            self._lock.notify_all()

    def _split(self, chosen: _Range) -> None:
        with self._lock:
            low, high, first = chosen.last_key, chosen.bounds.upto, chosen.page_first_key
            chosen.pages_since_split = 0  # probes cost requests too: try again later
        assert low is not None and first is not None
        varies_at = shared_length(first, low)
        prefix = self._request.prefix
        point = split_point(low, high, len(prefix), self._first_key_after, varies_at)
        with self._lock:
            chosen.splitting = False
            last = chosen.last_key
            upto = chosen.bounds.upto
            if (
                point is None
                or chosen.done
                or (last is not None and last >= point)
                or (upto is not None and point >= upto)
            ):
                return
            index = self._ranges.index(chosen)
            self._ranges.insert(index + 1, _Range(KeyRange(point, upto)))
            chosen.bounds = KeyRange(chosen.bounds.after, point)
            self.splits += 1
            self._lock.notify_all()

    def _first_key_after(self, point: str) -> str | None:
        probe = replace(self._request, page_size=1, start_after=point, version_marker=None)
        with self._lock:
            self.probes += 1
        records = parse_page(self._get(probe.params()), probe)
        return records[0].key if records else None

    def _get(self, params: dict[str, Any]) -> bytes:
        request = self._request
        try:
            response = self._call(**params)
        except Exception as exc:
            where = f"s3://{request.bucket}/{request.prefix}"
            raise request_failed(exc, request.operation, where) from None
        finally:
            with self._lock:
                self.requests += 1
        body: bytes = response[RAW_BODY]
        return body


# --- seeds: the first ranges of --parallel, from the prefix's "directories" -----------

# Some servers (moto) fail a request whose StartAfter holds one: not worth cutting at.
_NONCHARACTER = re.compile("[\ufdd0-\ufdef\ufffe\uffff\U0001fffe\U0001ffff]")
Level = Callable[[str], tuple[list[tuple[str, bool]], bool]]
_Piece = tuple[str | None, str | None]  # (its upper end, its directory if it is one)


def seed_bounds(level: Level, prefix: str, bounds: KeyRange, streams: int) -> list[str]:
    """Increasing boundaries strictly inside `bounds` that cut it at directories.

    `level(p)` lists one page of the entries right below p as (name, is a directory)
    in key order, and says whether more follow. A piece of work is a directory, a
    run of keys between directories, or the unlisted rest of a level. Directories
    are opened (all at once) while there are fewer pieces than streams; the pieces
    are then cut into at most SEED_RANGES_PER_STREAM * streams groups of equal counts.
    """
    pieces = _pieces(*level(prefix), bounds.upto)
    for _ in range(SEED_DEPTH):
        directories = [name for _, name in pieces if name is not None]
        if len(pieces) >= streams or not directories:
            break
        with ThreadPoolExecutor(min(streams, len(directories))) as pool:
            opened = dict(zip(directories, pool.map(level, directories), strict=True))
        expanded: list[_Piece] = []
        for end, name in pieces:
            inner = _pieces(*opened[name], end) if name is not None else []
            expanded.extend(inner or [(end, name)])
        pieces = expanded
    ends = sorted(
        {
            end
            for end, _ in pieces
            if end is not None
            and not _NONCHARACTER.search(end)
            and (bounds.after is None or end > bounds.after)
            and (bounds.upto is None or end < bounds.upto)
        }
    )
    groups = min(len(ends) + 1, SEED_RANGES_PER_STREAM * streams)
    return [ends[part * (len(ends) + 1) // groups - 1] for part in range(1, groups)]


def _pieces(entries: list[tuple[str, bool]], truncated: bool, end: str | None) -> list[_Piece]:
    """A level's pieces of work; `end` closes the unlisted rest, if any."""
    pieces: list[_Piece] = []
    last_key = None
    for name, is_directory in entries:
        if not is_directory:
            last_key = name
            continue
        if last_key is not None:
            pieces.append((last_key, None))
            last_key = None
        pieces.append((after_subtree(name, len(name) - 1) if name else None, name))
    if last_key is not None:
        pieces.append((last_key, None))
    if truncated:
        pieces.append((end, None))
    return pieces


# --- shards: the same ranges for every worker, from the bucket's "directories" -----------

DISCOVERY_ENTRIES_PER_SHARD = 16
DISCOVERY_DEPTH = 4
DISCOVERY_MAX_PAGES = 10  # per directory: a huge flat directory is cut by its first keys


def shard_range(client: Any, request: ListRequest, index: int, count: int) -> KeyRange:
    """The index-th of `count` disjoint ordered ranges that together hold the prefix."""
    if count == 1:
        return KeyRange()
    bounds = shard_bounds(
        lambda prefix: list_directory_level(client, request, prefix)[0], request.prefix, count
    )
    return KeyRange(
        bounds[index - 1] if index > 0 else None, bounds[index] if index < count - 1 else None
    )


def shard_bounds(
    level: Callable[[str], list[tuple[str, bool]]], prefix: str, count: int
) -> list[str]:
    """count-1 non-decreasing boundaries from a breadth-first walk of the directories.

    `level(p)` lists the entries right below p as (name, is a directory), in key order.
    Every entry counts as one unit of work: directories are opened level by level
    until there are enough entries to cut evenly (or no directories left).
    """
    entries = level(prefix)
    for _ in range(DISCOVERY_DEPTH):
        if len(entries) >= count * DISCOVERY_ENTRIES_PER_SHARD:
            break
        directories = [name for name, is_directory in entries if is_directory]
        if not directories:
            break
        with ThreadPoolExecutor(min(16, len(directories))) as pool:
            opened = dict(zip(directories, pool.map(level, directories), strict=True))
        expanded: list[tuple[str, bool]] = []
        for name, is_directory in entries:
            # An empty listing below a directory name (a race) keeps the name itself.
            expanded.extend(
                opened.get(name) or [(name, is_directory)] if is_directory else [(name, False)]
            )
        entries = expanded
    bounds = []
    for part in range(1, count):
        cut = part * len(entries) // count
        if cut == 0:
            bounds.append(prefix)
            continue
        name, is_directory = entries[cut - 1]
        bounds.append(after_subtree(name, len(name) - 1) or name if is_directory else name)
    return bounds


def list_directory_level(
    client: Any,
    request: ListRequest,
    prefix: str,
    *,
    start_after: str | None = None,
    max_pages: int = DISCOVERY_MAX_PAGES,
) -> tuple[list[tuple[str, bool]], bool]:
    """Keys and common prefixes right below `prefix` (Delimiter='/'), merged in key order,
    and whether more entries follow those (after `max_pages` pages)."""
    listing = ListRequest(request.bucket, prefix, start_after=start_after)
    params: dict[str, Any] | None = {**listing.params(), "Delimiter": "/"}
    entries: list[tuple[str, bool]] = []
    pages = 0
    while params is not None and pages < max_pages:
        try:
            body: bytes = client.list_objects_v2(**params)[RAW_BODY]
        except Exception as exc:
            raise request_failed(exc, "ListObjectsV2", f"s3://{request.bucket}/{prefix}") from None
        pages += 1
        entries.extend((record.key, False) for record in parse_page(body, listing))
        entries.extend((name, True) for name in common_prefixes(body))
        params = next_params(listing, params, body)
    entries.sort()
    return entries, params is not None


def common_prefixes(body: bytes) -> list[str]:
    root = ET.fromstring(body)
    tag = root.tag
    ns = tag[: tag.index("}") + 1] if tag.startswith("{") else ""
    encoded = (root.findtext(f"{ns}EncodingType") or "") == "url"
    names = [element.text or "" for element in root.iterfind(f"{ns}CommonPrefixes/{ns}Prefix")]
    return [unquote_plus(name) for name in names] if encoded else names
