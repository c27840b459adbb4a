"""Letting the system settle after the faults: wait until every acknowledged lifecycle is
complete (recorded, emailed, announced) and the projections have caught up, or a timeout."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from referral_loop.settings import Settings
from reliability.checker import Class, check
from reliability.history import History, Outcome
from reliability.truth import Truth, read_truth
from services.projections.db import Database

POLL_S = 0.5
LETTER_FACTS = ("ReportSent", "ThankYouSent")


@dataclass(frozen=True)
class Views:
    position: int
    referrals: int


def read_views(settings: Settings) -> Views:
    db = Database(settings)
    try:
        position = db.query("SELECT position FROM view_position WHERE name = 'referrals'")
        count = db.query("SELECT COUNT(*) FROM referral_view")
    finally:
        db.close()
    return Views(int(position[0][0]) if position else 0, int(count[0][0]))


def caught_up(views: Views, truth: Truth) -> bool:
    return views.position == truth.last_position and views.referrals == truth.referrals


def complete(history: History, truth: Truth, domain: str) -> bool:
    """Nothing acknowledged is missing yet, and feedback has announced each seen's letters."""
    verdict = check(history, truth, domain)
    if any(verdict.count(kind, Class.LOST) for kind in verdict.counts):
        return False
    seen = [s.referral_id for s in history.seen.values() if s.outcome is Outcome.ACKNOWLEDGED]
    return all((rid, fact) in truth.announced for rid in seen for fact in LETTER_FACTS)


async def settle(settings: Settings, history: History, timeout_s: float) -> tuple[Truth, Views]:
    """The final truth and views: once settled, or as they are when `timeout_s` runs out."""
    domain = settings.practice_email.rpartition("@")[2]
    deadline = time.monotonic() + timeout_s
    while True:
        truth = await asyncio.to_thread(read_truth, settings)
        views = await asyncio.to_thread(read_views, settings)
        done = complete(history, truth, domain) and caught_up(views, truth)
        if done or time.monotonic() > deadline:
            return truth, views
        await asyncio.sleep(POLL_S)
