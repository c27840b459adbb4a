"""Rebuild equals live; a projector killed mid-catch-up counts every fact exactly once."""

from __future__ import annotations

import io
from typing import Any
from uuid import uuid4

from referral_loop.deadlines import deadline_policy
from referral_loop.natsd import free_port
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.follower import read_page
from referral_loop.store.ledger import Positioned
from services.projections.db import Database
from services.projections.projector import Projector
from services.projections.rebuild import rebuild
from tests.support import referrals as make
from tests.support.processes import ProcessRegistry, wait_until


def seed_store(settings: Settings, referrals: int) -> None:
    ledger = open_ledger(settings)
    facts: list[Any] = []
    for i in range(referrals):
        rid = uuid4()
        facts += [make.received(rid), make.scheduled(rid)]
        if i % 3 == 0:
            facts.append(make.seen(rid))
    for start in range(0, len(facts), 500):
        chunk = facts[start : start + 500]
        ledger.record_batch([Positioned(start + i + 1, f) for i, f in enumerate(chunk)])
    ledger.close()


def snapshot(db: Database) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]:
    rows = db.query("SELECT * FROM referral_view ORDER BY referral_id")
    volume = db.query("SELECT * FROM volume_monthly ORDER BY dimension, key, month")
    (position,) = db.query("SELECT position FROM view_position")[0]
    return rows, volume, int(position)


def follow_to_end(settings: Settings) -> Database:
    db, ledger = Database(settings), open_ledger(settings)
    projector = Projector(db, deadline_policy(settings))
    while page := read_page(ledger, projector.position(), 300):
        projector.process(page)
    ledger.close()
    return db


def test_a_rebuild_equals_the_live_view_and_reports_progress(store_settings: Settings) -> None:
    seed_store(store_settings, 300)
    live = follow_to_end(store_settings)
    before = snapshot(live)
    out = io.StringIO()
    assert rebuild(store_settings, out) == before[2]
    assert snapshot(live) == before
    assert "rebuild: " in out.getvalue() and "(100%)" in out.getvalue()
    live.close()


def test_a_projector_killed_mid_catch_up_counts_everything_once(
    store_settings: Settings, services: ProcessRegistry
) -> None:
    referrals = 3000
    seed_store(store_settings, referrals)
    settings = store_settings.model_copy(update={"ops_port": free_port()})
    db = Database(settings)

    def counted() -> int:
        try:
            return int(
                db.query("SELECT COALESCE(SUM(count), 0) FROM volume_monthly WHERE dimension = 'total'")[0][0]
            )
        except Exception:
            return 0

    projections = services.start("projections", settings)
    wait_until(lambda: counted() > 0, timeout=60, what="catch-up has started")
    projections.kill()
    assert counted() < referrals, "catch-up finished before the kill"
    services.start("projections", settings)
    wait_until(lambda: counted() == referrals, timeout=120, what=f"all {referrals} counted (now {counted()})")
    assert db.query("SELECT COUNT(*) FROM referral_view")[0][0] == referrals
    db.close()
