"""Python's cyclic garbage collector, kept out of a stage's start-up.

A stage's process starts by importing typer, botocore and awscrt and making its S3
clients: ~60,000 objects that live as long as the process. With the collector on,
their allocation triggers ~150 collections that traverse them (~60 ms of a 0.375 s
start, measured on s3-check), and every full collection during the run traverses
them again (~50 ms more in a HEAD run over 2,000 objects).

`pause()` turns the collector off when a console script starts; `resume()`, once the
stage's pipeline is built and before its first record, moves everything alive into
the permanent generation (gc.freeze: never traversed again) and turns it back on.
Reference counting frees memory as usual throughout; only reference cycles made
during start-up wait, and they are few. A process that never paused (tests running
stages in-process) is left as it is.
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    """Off for the start-up of this process (a console script's entry point)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """What start-up made is frozen, and the collector is on again (if pause() stopped it)."""
    global _paused
    if _paused:
        gc.freeze()
        gc.enable()
        _paused = False
