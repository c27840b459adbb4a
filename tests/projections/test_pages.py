"""A page's facts are applied in memory and written once: whatever the page size, the views are the
same as applying the facts one at a time, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

import pytest
from pydantic import AwareDatetime, TypeAdapter

from referral_loop.domain.deadlines import deadline_policy
from referral_loop.settings import Settings
from referral_loop.store.follower import Recorded
from services.projections.db import Database
from services.projections.projector import Projector
from services.projections.schema import stamp, tables
from tests.projections.seed import history
from tests.support import referrals as make


@pytest.fixture
def db(store_settings: Settings) -> Iterator[Database]:
    database = Database(store_settings)
    yield database
    database.close()


def snapshot(db: Database, suffix: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    t = tables(suffix)
    rows = db.query(f"SELECT * FROM {t['referral_view']} ORDER BY referral_id")
    volume = db.query(f"SELECT * FROM {t['volume_monthly']} ORDER BY dimension, key, month")
    return rows, volume


def apply_in_pages(db: Database, suffix: str, facts: Sequence[Recorded], size: int) -> None:
    projector = Projector(db, deadline_policy(Settings()), suffix)
    for start in range(0, len(facts), size):
        projector.process(facts[start : start + size])


def test_any_page_size_gives_the_views_of_one_fact_at_a_time(db: Database) -> None:
    facts = history().pages()
    for size, suffix in ((1, "_each"), (7, "_seven"), (len(facts), "_one")):
        apply_in_pages(db, suffix, facts, size)
    each = snapshot(db, "_each")
    assert len(each[0]) == 158
    assert snapshot(db, "_seven") == each == snapshot(db, "_one")


def test_facts_about_a_referral_the_views_do_not_have_change_nothing(db: Database) -> None:
    known, unknown = uuid4(), uuid4()
    page = [make.received(known), make.scheduled(unknown), make.seen(unknown), make.scheduled(known)]
    apply_in_pages(db, "", [Recorded(i + 1, f) for i, f in enumerate(page)], 4)
    assert db.query("SELECT referral_id, status FROM referral_view") == [(str(known), "scheduled")]


def test_a_referral_received_twice_in_one_page_is_counted_once(db: Database) -> None:
    rid = uuid4()
    again = make.received(rid, requested_specialty="neurology")
    page = [Recorded(1, make.received(rid)), Recorded(2, make.scheduled(rid)), Recorded(3, again)]
    apply_in_pages(db, "", page, 3)
    assert db.query("SELECT specialty, status FROM referral_view") == [("cardiology", "scheduled")]
    assert db.query("SELECT count FROM volume_monthly WHERE dimension = 'total'") == [(1,)]


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 22, 20, 42, 37, 123, tzinfo=UTC),
        datetime(2026, 11, 22, 20, 42, 37, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=-5))),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        TypeAdapter(AwareDatetime).validate_json('"2026-11-22T20:42:37.000123Z"'),
        TypeAdapter(AwareDatetime).validate_json('"2026-11-22T20:42:37+02:00"'),
    ],
)
def test_a_stamp_is_fixed_width_utc_text(moment: datetime) -> None:
    assert stamp(moment) == moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
