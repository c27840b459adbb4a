"""Rebuild equals live; a projector killed mid-catch-up counts every fact exactly once."""

from __future__ import annotations

import gc
import io
from collections.abc import Sequence
from typing import Any
from uuid import UUID, uuid4

import pytest

from contracts import Fact
from contracts.events import AcknowledgementSent, Delivery, ThankYouSent
from launcher.natsd import free_port
from referral_loop.domain.deadlines import deadline_policy
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.follower import Recorded, read_page
from referral_loop.store.ledger import Positioned
from referral_loop.store.quarantine import SetAside
from services.projections import rebuild as rebuilding
from services.projections.db import Database
from services.projections.projector import Projector
from services.projections.rebuild import RARE_COLLECTIONS, collecting_rarely, rebuild
from tests.support import referrals as make
from tests.support.processes import ProcessRegistry, wait_until


def seed_store(settings: Settings, referrals: int) -> None:
    """Referrals received, acknowledged and booked, a third of them seen and thanked for; the store
    ends with facts the views ignore (a rebuild must still reach its end)."""
    ledger = open_ledger(settings)
    facts: list[Any] = []
    for i in range(referrals):
        rid = uuid4()
        facts += [make.received(rid), delivered(AcknowledgementSent, rid), make.scheduled(rid)]
        if i % 3 == 0:
            facts += [make.seen(rid), delivered(ThankYouSent, rid)]
    facts += [delivered(AcknowledgementSent, facts[0].referral_id) for _ in range(3)]
    for start in range(0, len(facts), 500):
        chunk = facts[start : start + 500]
        ledger.record_batch([Positioned(start + i + 1, f) for i, f in enumerate(chunk)])
    ledger.close()


def delivered(kind: type[Fact], rid: UUID) -> Fact:
    return kind.new(rid, Delivery(message_id=f"<{uuid4()}@x>", sent_to="reports@harbor.example"), make.STAFF)


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
    assert "rebuild: " in out.getvalue() and f"{before[2]}/{before[2]} facts (100%)" in out.getvalue()
    assert leftovers(store_settings, live) == []
    live.close()


def leftovers(settings: Settings, db: Database) -> list[str]:
    """Scratch files beside the views (SQLite) and rebuild tables (PostgreSQL) left behind."""
    files = [p.name for p in settings.views_sqlite_file.parent.glob("*_rebuild*")]
    if db.dialect == "sqlite":
        return files
    found = db.query("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    return files + [name for (name,) in found if "_rebuild" in name]


def test_a_failed_rebuild_leaves_the_live_views_and_nothing_else(
    store_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_store(store_settings, 300)
    live = follow_to_end(store_settings)
    before = snapshot(live)
    pages = 0

    def failing(self: Projector, page: Sequence[Recorded], aside: Sequence[SetAside] = ()) -> int:
        nonlocal pages
        pages += 1
        if pages == 2:
            raise RuntimeError("the rebuild breaks half way")
        return applying(self, page, aside)

    applying = Projector.process
    monkeypatch.setattr(Projector, "process", failing)
    monkeypatch.setattr(rebuilding, "PAGE", 100)
    with pytest.raises(RuntimeError, match="half way"):
        rebuild(store_settings, io.StringIO())
    assert snapshot(live) == before
    assert leftovers(store_settings, live) == []
    live.close()


def test_a_replay_collects_garbage_rarely_and_restores_the_collector() -> None:
    before = gc.get_threshold()
    with collecting_rarely():
        assert gc.get_threshold()[0] == RARE_COLLECTIONS and gc.get_freeze_count() > 0
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


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
