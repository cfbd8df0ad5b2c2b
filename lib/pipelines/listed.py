"""What is at a key now, answered from listing pages instead of one HEAD per key.

s3-repair asks of every record "is the target still missing?" and "what is the source
now?". Its input usually comes from s3-check, in key order and dense (most keys of a
range), so one ListObjectsV2 page of 1000 keys answers a thousand of those questions
that a HEAD each would. `Listed` fetches a page when a key is not covered by the pages
it holds, starting after the key the input had before it (or where the last page
ended, whichever is later), and keeps the last two pages. A page lists what was there
when it was fetched, as a HEAD does; a key the run writes itself is forgotten, so
asking again means a HEAD.

It declines (the caller sends a HEAD) when keys do not come in increasing order, for
the first key (nothing to start after), and for good once pages answer too few keys
each (sparse input: a HEAD per key is then cheaper than a page per key) or a listing
fails (a HEAD needs only read access to the object; a listing, ListBucket).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from lib.leaves.records import ObjectRecord

# One page of a listing after a key (None: from the start): its records, and whether
# more follow.
PageSource = Callable[[str | None], tuple[list[ObjectRecord], bool]]

PAGES_KEPT = 2
MIN_ANSWERS_PER_PAGE = 16  # fewer, and a HEAD per key is cheaper than the pages
TRIAL_PAGES = 3  # pages fetched before their answers are judged


@dataclass
class _Page:
    after: str | None  # the page lists keys > after (None: all) ...
    through: str | None  # ... up to and including `through` (None: to the end)
    records: dict[str, ObjectRecord]
    forgotten: set[str] = field(default_factory=set)

    def covers(self, key: str) -> bool:
        return (self.after is None or key > self.after) and (
            self.through is None or key <= self.through
        )


class Listed:
    """Answers "what is at `key`?" from listing pages, or declines (see the module)."""

    def __init__(self, page: PageSource) -> None:
        self._page = page
        self._pages: deque[_Page] = deque(maxlen=PAGES_KEPT)
        self._lock = threading.Lock()
        self.pages = 0  # pages fetched
        self.answers = 0  # keys answered from pages
        self.declined = False  # for good: the input is too sparse for pages

    def lookup(self, key: str, after: str | None) -> tuple[bool, ObjectRecord | None]:
        """(True, the listed record or None if there is no such key) when a page can tell;
        (False, None) when the caller must ask with a HEAD. `after` is the key the input
        had before `key` (None for the first)."""
        with self._lock:
            page = self._covering(key) or self._fetch(key, after)
            if page is None or key in page.forgotten:
                return False, None
            self.answers += 1
            return True, page.records.get(key)

    def forget(self, key: str) -> None:
        """The run wrote `key`: what the pages say of it is no longer the truth."""
        with self._lock:
            for page in self._pages:
                if page.covers(key):
                    page.forgotten.add(key)

    def _covering(self, key: str) -> _Page | None:
        return next((page for page in reversed(self._pages) if page.covers(key)), None)

    def _fetch(self, key: str, after: str | None) -> _Page | None:
        if self.declined or after is None or not after < key:
            return None
        if self.pages >= TRIAL_PAGES and self.answers < MIN_ANSWERS_PER_PAGE * self.pages:
            self.declined = True
            return None
        start = after
        last = self._pages[-1].through if self._pages else None
        if last is not None and start < last < key:
            start = last  # go on where the last page ended: no key listed twice
        try:
            records, more = self._page(start)
        except Exception:  # no ListBucket permission, say: HEADs answer from now on
            self.declined = True
            return None
        self.pages += 1
        if more and not records:
            return None  # a truncated empty page says nothing of where it ends
        through = records[-1].key if more else None
        page = _Page(start, through, {record.key: record for record in records})
        self._pages.append(page)
        return page if page.covers(key) else None
