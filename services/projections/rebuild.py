"""`referral-loop rebuild`: replay the whole referral store into fresh read models, then swap them in.

The live projector keeps running meanwhile. The rebuilt tables carry their own position; the
swap happens in one transaction, after which the live projector goes on from that position.

On SQLite the new tables are built in a scratch file beside the views (`<views file>_rebuild<n>`),
with no fsync and the rollback journal in memory: the live views file and its WAL see nothing of
the replay. A crash, even of the machine, can at worst corrupt the scratch file, which nothing
reads and every rebuild starts afresh. The swap copies the tables into the views file in one
ordinary transaction (WAL, synchronous=NORMAL), so it is atomic and crash-safe like every page
the live projector applies. On PostgreSQL the tables are built under a suffix in the same
database and renamed at the swap.

With `REBUILD_WORKERS` above 1 the replay runs in that many processes, each the facts of its
share of the referrals into tables of its own, merged into the first worker's before the swap
(`rebuild_parallel.py`); with 1 it runs in this process.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from referral_loop.domain.deadlines import deadline_policy
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.follower import read_entries, settle
from referral_loop.store.ledger import ReferralLedger
from services.projections.db import Database
from services.projections.facts import APPLIED
from services.projections.projector import Projector
from services.projections.rebuild_pace import RARE_COLLECTIONS, collecting_rarely, report
from services.projections.rebuild_parallel import replay_in_parallel
from services.projections.rebuild_target import Build, build_target
from services.projections.schema import drop, swap_in

__all__ = ["PAGE", "RARE_COLLECTIONS", "collecting_rarely", "rebuild", "replay"]
PAGE = 2000


def rebuild(settings: Settings, out: TextIO = sys.stderr) -> int:
    """Replay into new tables with progress on `out`; the store position the new views reached
    (every fact up to it is in them: the number of facts replayed)."""
    live = Database(settings)
    build = build_target(settings, live)
    try:
        replayed = replay_store(settings, build, out)
        if build.file is not None:
            build.db.close()
        swap(live, build, out)
        print(f"rebuild: swapped in the new read models ({replayed} facts)", file=out)
        return replayed
    except BaseException:
        if build.file is None:
            drop(live, build.suffix)
        raise
    finally:
        build.discard()
        live.close()


def replay_store(settings: Settings, build: Build, out: TextIO) -> int:
    """Replay the store into `build`, in this process or in `settings.rebuild_workers`."""
    if settings.rebuild_workers > 1:
        return replay_in_parallel(settings, build, out, PAGE)
    referrals = open_ledger(settings)
    try:
        projector = Projector(build.db, deadline_policy(settings), build.suffix)
        with collecting_rarely():
            return replay(referrals, projector, out)
    finally:
        referrals.close()


def swap(live: Database, build: Build, out: TextIO) -> None:
    """Swap the built tables in, then empty the views' WAL of the replaced rows (names of
    patients forgotten since, among them)."""
    swap_in(live, build.suffix, build.file)
    if not live.scrub():
        print("rebuild: readers kept the views' WAL from being emptied (run the rebuild again)", file=out)


def replay(referrals: ReferralLedger, projector: Projector, out: TextIO) -> int:
    """Apply the store's facts up to its end when the replay starts (later ones are the live
    projector's); the position reached. Only the fact types that change the views are read; one
    that cannot be read or applied is set aside (`quarantine.py`), as the live projector does."""
    started = last_report = time.monotonic()
    end, position = referrals.recorder.max_notification_id() or 0, projector.position()
    while page := read_entries(referrals, position, PAGE, APPLIED, through=end):
        position = settle(page, projector.process)[-1]
        if time.monotonic() - last_report >= 1.0:
            report(out, position, end, started)
            last_report = time.monotonic()
    position = projector.advance(end)
    report(out, position, end, started)
    return position
