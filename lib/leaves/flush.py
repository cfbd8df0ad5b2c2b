"""The flush marker: what a record iterator yields, instead of a record, when it is
about to wait (for the network, a worker, the next file).

The runner (lib/engine/runner.py) then flushes the output, commits the checkpoint if one is
due and notices a signal, so that a slow source never holds written records back.
Everything that feeds a pipeline passes the marker up as it is: listers, the ordered
window, the pipelines themselves.
"""

from __future__ import annotations

import enum
from typing import Final


class Flush(enum.Enum):
    """The type of FLUSH: `Iterator[DataRecord | Flush]` reads as what it yields."""

    FLUSH = "flush"


FLUSH: Final = Flush.FLUSH
