"""A poison fact in the referral store no longer stops the projections: the projector and the rebuild
set it aside with its reason (recorded beside the views, on /readyz and /metrics) and apply the
rest; a locked views database sets nothing aside. SQLite and PostgreSQL alike."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from uuid import UUID, uuid4

import pytest

from referral_loop.domain.deadlines import deadline_policy
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.follower import Recorded, StoreFollower, settle
from referral_loop.store.ledger import Positioned, ReferralLedger
from services.projections.db import Database
from services.projections.main import projections_ops
from services.projections.projector import Projector
from services.projections.quarantine import quarantined
from services.projections.rebuild import rebuild
from tests.support import poison
from tests.support import referrals as make


@dataclass
class Views:
    settings: Settings
    referrals: ReferralLedger
    db: Database
    projector: Projector
    ids: dict[str, UUID]

    def follow(self) -> int:
        """Follow the store as the live projector does, to its end; the position reached."""
        follower = StoreFollower(self.referrals, self.projector.process, self.projector.position, page_size=4)
        while follower.step()[0]:
            pass
        return self.projector.position()

    def statuses(self) -> dict[str, str]:
        rows = self.db.query("SELECT referral_id, status FROM referral_view")
        return {name: status for name, rid in self.ids.items() for r, status in rows if r == str(rid)}


@pytest.fixture
def views(store_settings: Settings) -> Iterator[Views]:
    """A store holding, among good facts, a return visit on 0001-01-01 written before the ranges."""
    referrals, db = open_ledger(store_settings), Database(store_settings)
    ids = {name: uuid4() for name in ("a", "b", "c")}
    referrals.record_batch([Positioned(1, make.received(ids["a"])), Positioned(2, make.received(ids["b"]))])
    poison.return_visit(referrals, ids["a"])  # position 3
    referrals.record_batch([Positioned(3, make.scheduled(ids["b"])), Positioned(4, make.received(ids["c"]))])
    yield Views(store_settings, referrals, db, Projector(db, deadline_policy(store_settings)), ids)
    db.close()
    referrals.close()


def test_the_projector_sets_a_stored_poison_fact_aside_and_applies_the_rest(views: Views) -> None:
    assert views.follow() == 5
    assert views.statuses() == {"a": "received", "b": "scheduled", "c": "received"}
    [entry] = quarantined(views.db)
    assert (entry.position, entry.fact_type, entry.follower) == (3, "ReturnVisitScheduled", "projections")
    assert entry.referral_id == str(views.ids["a"]) and entry.event_id is not None
    assert "return_visit_on" in entry.reason and "0001" not in entry.reason


async def test_readiness_and_metrics_count_the_facts_set_aside(views: Views) -> None:
    views.follow()
    ops = projections_ops(views.db, views.referrals, views.projector)
    ready = await ops.readyz()
    assert ready.status == 200
    assert b'"name": "quarantine", "ok": true, "reason": "", "detail": "1 fact(s) set aside"' in ready.body
    metrics = (await ops.metrics_page()).body.decode()
    assert 'referral_loop_quarantined_facts{follower="projections"} 1.0' in metrics


def test_a_fact_that_decodes_but_overflows_is_set_aside_and_the_page_goes_on(views: Views) -> None:
    """A visit on 0001-01-01 after the consult: the report's due time overflows (the deadline's
    arithmetic, as before the ranges); the facts around it in the same page are applied."""
    a, b = views.ids["a"], views.ids["b"]
    seen, overflowing = make.seen(a), poison.unvalidated(a, date(1, 1, 1))
    page = [
        Recorded(1, make.received(a)),
        Recorded(2, seen),
        Recorded(3, overflowing),
        Recorded(4, make.received(b)),
    ]
    assert settle(page, views.projector.process)[-1] == 4
    assert views.statuses() == {"a": "seen", "b": "received"}
    [entry] = quarantined(views.db)
    assert entry.position == 3 and entry.reason.startswith("OverflowError (date value out of range)")
    ((visit,),) = views.db.query("SELECT return_visit_on FROM referral_view WHERE referral_id = ?", [str(a)])
    assert visit != "0001-01-01"  # the received referral's own visit stays


def test_a_rebuild_completes_over_a_poison_fact_and_carries_its_entry(views: Views) -> None:
    views.follow()
    live = views.db.query("SELECT referral_id, status FROM referral_view ORDER BY referral_id")
    for workers in (1, 2):
        settings = views.settings.model_copy(update={"rebuild_workers": workers})
        assert rebuild(settings, io.StringIO()) == 5
        assert views.db.query("SELECT referral_id, status FROM referral_view ORDER BY referral_id") == live
        assert [e.position for e in quarantined(views.db)] == [3]
    views.referrals.record_batch([Positioned(5, make.seen(views.ids["b"]))])
    assert views.follow() == 6  # the live projector goes on from the rebuilt position


@pytest.mark.parametrize("store_settings", ["sqlite"], indirect=True)  # a file's lock: SQLite's own
def test_a_locked_views_database_sets_nothing_aside(views: Views) -> None:
    views.db.connect().execute("PRAGMA busy_timeout = 100")
    holder = sqlite3.connect(views.settings.views_sqlite_file, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    follower = StoreFollower(views.referrals, views.projector.process, views.projector.position)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        follower.step()
    holder.execute("ROLLBACK")
    holder.close()
    assert views.projector.position() == 0 and quarantined(views.db) == []
    assert views.follow() == 5 and [e.position for e in quarantined(views.db)] == [3]
