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
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from referral_loop.deadlines import deadline_policy
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.follower import read_page
from referral_loop.store.ledger import ReferralLedger
from services.projections.db import Database
from services.projections.facts import APPLIED
from services.projections.projector import Projector
from services.projections.schema import drop, swap_in

PAGE = 2000
RARE_COLLECTIONS = 50_000
"""Allocations between two young-generation collections during a replay (Python's default: 700)."""


@dataclass(frozen=True)
class Build:
    """Where a rebuild writes: `db`, tables named with `suffix`; `file` when that is a scratch file."""

    db: Database
    suffix: str
    file: Path | None

    def discard(self) -> None:
        """Close the scratch file and delete it (the tables in it are swapped in or abandoned)."""
        if self.file is not None:
            self.db.close()
            for path in (self.file, self.file.with_name(f"{self.file.name}-journal")):
                path.unlink(missing_ok=True)


def build_target(settings: Settings, live: Database) -> Build:
    suffix = f"_rebuild{time.time_ns()}"
    if live.dialect != "sqlite":
        return Build(live, suffix, None)
    file = settings.views_sqlite_file.with_name(f"{settings.views_sqlite_file.name}{suffix}")
    build = Build(Database(settings, file, scratch=True), suffix, file)
    build.discard()
    return build


def rebuild(settings: Settings, out: TextIO = sys.stderr) -> int:
    """Replay into new tables with progress on `out`; the store position the new views reached
    (every fact up to it is in them: the number of facts replayed)."""
    referrals, live = open_ledger(settings), Database(settings)
    build = build_target(settings, live)
    try:
        projector = Projector(build.db, deadline_policy(settings), build.suffix)
        with collecting_rarely():
            replayed = replay(referrals, projector, out)
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
        referrals.close()


def swap(live: Database, build: Build, out: TextIO) -> None:
    """Swap the built tables in, then empty the views' WAL of the replaced rows (names of
    patients forgotten since, among them)."""
    swap_in(live, build.suffix, build.file)
    if not live.scrub():
        print("rebuild: readers kept the views' WAL from being emptied (run the rebuild again)", file=out)


def replay(referrals: ReferralLedger, projector: Projector, out: TextIO) -> int:
    """Apply the store's facts up to its end when the replay starts (later ones are the live
    projector's); the position reached. Only the fact types that change the views are read."""
    started = last_report = time.monotonic()
    end, position = referrals.recorder.max_notification_id() or 0, projector.position()
    while page := read_page(referrals, position, PAGE, APPLIED, through=end):
        position = projector.process(page)
        if time.monotonic() - last_report >= 1.0:
            report(out, position, end, started)
            last_report = time.monotonic()
    position = projector.advance(end)
    report(out, position, end, started)
    return position


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
