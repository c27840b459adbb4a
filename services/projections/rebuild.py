"""`referral-loop rebuild`: replay the whole referral store into fresh read models, then swap them in.

The live projector keeps running meanwhile. The rebuilt tables carry their own position; the
swap happens in one transaction, after which the live projector goes on from that position.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from referral_loop.deadlines import deadline_policy
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.follower import read_ahead
from referral_loop.store.ledger import ReferralLedger
from services.projections.db import Database
from services.projections.projector import Projector
from services.projections.schema import drop, swap_in

PAGE = 2000
RARE_COLLECTIONS = 50_000
"""Allocations between two young-generation collections during a replay (Python's default: 700)."""


def rebuild(settings: Settings, out: TextIO = sys.stderr) -> int:
    """Replay into new tables with progress on `out`; the number of facts replayed."""
    referrals, db = open_ledger(settings), Database(settings)
    suffix = f"_rebuild{int(time.time())}"
    try:
        projector = Projector(db, deadline_policy(settings), suffix)
        with collecting_rarely():
            replayed = replay(referrals, projector, out)
        swap_in(db, suffix)
        print(f"rebuild: swapped in the new read models ({replayed} facts)", file=out)
        return replayed
    except BaseException:
        drop(db, suffix)
        raise
    finally:
        db.close()
        referrals.close()


def replay(referrals: ReferralLedger, projector: Projector, out: TextIO) -> int:
    started = last_report = time.monotonic()
    replayed = 0
    for page in read_ahead(referrals, projector.position(), PAGE):
        projector.process(page)
        replayed += len(page)
        if time.monotonic() - last_report >= 1.0:
            report(out, replayed, referrals, started)
            last_report = time.monotonic()
    report(out, replayed, referrals, started)
    return replayed


def report(out: TextIO, replayed: int, referrals: ReferralLedger, started: float) -> None:
    end = referrals.recorder.max_notification_id() or 0
    rate = replayed / max(time.monotonic() - started, 1e-6)
    share = 100 * replayed / end if end else 100.0
    print(f"rebuild: {replayed}/{end} facts ({share:.0f}%), {rate:,.0f} facts/s", file=out, flush=True)


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
