"""A parallel rebuild's worker process: replays its share of the referrals into its own tables.

It opens the store and its target itself (nothing is inherited: the parent starts it with
"spawn"), reads the store's log up to the rebuild's end, keeping only its share's facts
(`rebuild_share.py`), applies them with the live projector's code, and moves its tables'
position to the end. Its progress goes to its slot of a shared array; a failure, as a line,
to the parent's queue (the traceback to stderr) before the process exits with an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from referral_loop.domain.deadlines import deadline_policy
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.follower import settle
from services.projections.db import Database
from services.projections.facts import APPLIED
from services.projections.projector import Projector
from services.projections.rebuild_pace import collecting_rarely
from services.projections.rebuild_share import Share, ShareReader


@dataclass(frozen=True)
class Job:
    """What a worker replays (`share`, up to position `end`, in pages of `page` facts) and where
    to (tables named with `suffix`, in the SQLite scratch `file` or the views' PostgreSQL)."""

    settings: Settings
    share: Share
    suffix: str
    file: Path | None
    end: int
    page: int


def work(job: Job, progress: Any, failures: Any) -> None:
    """The process's body. `progress`: a shared array of positions, one per worker;
    `failures`: a queue for (worker index, what went wrong)."""
    try:
        replay_share(job, lambda position: progress.__setitem__(job.share.index, position))
    except BaseException as error:
        failures.put((job.share.index, f"{type(error).__name__}: {error}"[:2000]))
        raise


def replay_share(job: Job, progressed: Callable[[int], object]) -> int:
    """Replay the job's share into its tables; the position they reached (the job's end)."""
    referrals = open_ledger(job.settings)
    db = Database(job.settings, job.file, scratch=True) if job.file else Database(job.settings)
    try:
        projector = Projector(db, deadline_policy(job.settings), job.suffix)
        reader = ShareReader(referrals, job.settings.store, job.share, APPLIED, job.page)
        with collecting_rarely():
            return replay(reader, projector, job.end, progressed)
    finally:
        db.close()
        referrals.close()


def replay(reader: ShareReader, projector: Projector, end: int, progressed: Callable[[int], object]) -> int:
    """Apply the share's facts up to `end`, then move the position to `end`; the position."""
    position = projector.position()
    while page := reader.page(position, end):
        position = settle(page, projector.process)[-1]
        progressed(position)
    position = projector.advance(end)
    progressed(position)
    return position
