"""`referral-loop rebuild`: replay the whole referral store into fresh read models, then swap them in.

The live projector keeps running meanwhile. The rebuilt tables carry their own position; the
swap happens in one transaction, after which the live projector goes on from that position.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from referral_loop.deadlines import deadline_policy
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.follower import read_page
from referral_loop.store.ledger import ReferralLedger
from services.projections.db import Database
from services.projections.projector import Projector
from services.projections.schema import drop, swap_in

PAGE = 2000


def rebuild(settings: Settings, out: TextIO = sys.stderr) -> int:
    """Replay into new tables with progress on `out`; the number of facts replayed."""
    referrals, db = open_ledger(settings), Database(settings)
    suffix = f"_rebuild{int(time.time())}"
    try:
        projector = Projector(db, deadline_policy(settings), suffix)
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
    position, replayed = projector.position(), 0
    while page := read_page(referrals, position, PAGE):
        position = projector.process(page)
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
