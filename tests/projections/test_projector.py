"""The projector applies each fact once, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from contracts import Fact
from referral_loop.domain.deadlines import deadline_policy
from referral_loop.settings import Settings
from referral_loop.store.follower import Recorded
from services.projections.db import Database
from services.projections.projector import Projector
from tests.support import referrals as make


@pytest.fixture
def projector(store_settings: Settings) -> Iterator[Projector]:
    db = Database(store_settings)
    yield Projector(db, deadline_policy(store_settings))
    db.close()


def page(*facts: Fact, start: int = 1) -> list[Recorded]:
    return [Recorded(start + i, f) for i, f in enumerate(facts)]


def volume(projector: Projector, dimension: str) -> dict[tuple[str, str], int]:
    rows = projector.db.query("SELECT month, key, count FROM volume_monthly WHERE dimension = ?", [dimension])
    return {(m, k): int(n) for m, k, n in rows}


def at(month: int, day: int = 10) -> datetime:
    return datetime(2026, month, day, 12, 0, tzinfo=UTC)


def test_a_referral_is_counted_in_every_dimension_and_follows_its_lifecycle(projector: Projector) -> None:
    rid = uuid4()
    received = make.received(rid).model_copy(update={"occurred_at": at(3)})
    assert projector.process(page(received, make.scheduled(rid), make.seen(rid))) == 3
    assert volume(projector, "total") == {("2026-03", "all"): 1}
    assert volume(projector, "clinic") == {("2026-03", "reports@harbor.example"): 1}
    assert volume(projector, "reason") == {("2026-03", "Symptoms, signs and abnormal findings"): 1}
    ((status, seen_at, due),) = projector.db.query(
        "SELECT status, seen_at, report_due_at FROM referral_view WHERE referral_id = ?", [str(rid)]
    )
    assert status == "seen" and seen_at is not None and due is not None


def test_a_page_applied_twice_counts_once(projector: Projector) -> None:
    facts = page(make.received(), make.received())
    projector.process(facts)
    assert projector.process(facts) == 2
    assert sum(volume(projector, "total").values()) == 2


def test_a_position_moved_by_someone_else_refuses_the_page(
    projector: Projector, store_settings: Settings
) -> None:
    other = Projector(Database(store_settings), deadline_policy(store_settings))
    other.process(page(make.received()))
    assert projector.process(page(make.received())) == 1
    assert sum(volume(projector, "total").values()) == 1
    other.db.close()


def test_the_position_advances_past_ignored_facts_and_never_back(projector: Projector) -> None:
    assert projector.advance(5) == 5
    assert projector.advance(3) == 5
    assert projector.process(page(make.received(), make.received(), start=5)) == 6
    assert sum(volume(projector, "total").values()) == 1
