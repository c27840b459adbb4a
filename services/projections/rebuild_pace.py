"""A replay's pace: the garbage collector kept out of its way, and its progress printed."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

RARE_COLLECTIONS = 50_000
"""Allocations between two young-generation collections during a replay (Python's default: 700)."""


def report(out: TextIO, position: int, end: int, started: float) -> None:
    rate = position / max(time.monotonic() - started, 1e-6)
    share = 100 * position / end if end else 100.0
    print(f"rebuild: {position}/{end} facts ({share:.0f}%), {rate:,.0f} facts/s", file=out, flush=True)


@contextmanager
def collecting_rarely() -> Iterator[None]:
    """Run the cyclic garbage collector rarely while replaying, as it was afterwards.

    A replay allocates millions of short-lived objects without reference cycles (facts, rows),
    which reference counting frees. By default the collector scans young objects every 700
    allocations, and the pages' facts live long enough to be promoted and rescanned: a fifth
    of a rebuild's time. The objects alive before (modules, schemas) are frozen out of the scans.
    """
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(RARE_COLLECTIONS, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()
