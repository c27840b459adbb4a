"""ReportLate in the read models: the `report_late` column (added to views made before it), and
the late-report count preferring feedback's own word to the times (issue 14, finding 12)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest

from contracts import Fact
from contracts.events import Deadline, Delivery, ReportLate, ReportSent, ReturnVisit, ReturnVisitScheduled
from referral_loop.domain.deadlines import DeadlinePolicy
from referral_loop.settings import Settings
from referral_loop.store.follower import Recorded
from services.projections import schema
from services.projections.db import Database
from services.projections.models import Dimension
from services.projections.projector import Projector
from services.projections.queries.trends import trends
from tests.support import referrals as make

POLICY = DeadlinePolicy(ZoneInfo("UTC"), timedelta(hours=24), 2, timedelta(hours=24))
FEEDBACK = make.STAFF


def at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def recorded(fact: Fact, when: datetime) -> Fact:
    return fact.model_copy(update={"occurred_at": min(fact.occurred_at, when), "recorded_at": when})


@pytest.fixture
def db(store_settings: Settings) -> Iterator[Database]:
    database = Database(store_settings)
    yield database
    database.close()


def reported_late_then_visit_moved(rid: UUID) -> list[Fact]:
    """Due 5 October (the return visit on the 6th, less a day); the report went out on the 6th,
    late, and feedback said so on the 22nd; on the 8th the return visit moved to the 20th."""
    received = make.received(rid, return_visit_on="2026-10-06")
    sent = ReportSent.new(rid, Delivery(message_id="<r@p>", sent_to="reports@harbor.example"), FEEDBACK)
    moved = ReturnVisitScheduled.new(rid, ReturnVisit(return_visit_on=date(2026, 10, 20)), make.STAFF)
    late = ReportLate.new(rid, Deadline(due_at=at("2026-10-05", 0)), FEEDBACK, occurred_at=at("2026-10-06"))
    return [
        recorded(received.model_copy(update={"occurred_at": at("2026-10-01")}), at("2026-10-01")),
        recorded(make.seen(rid).model_copy(update={"occurred_at": at("2026-10-05")}), at("2026-10-05")),
        recorded(sent.model_copy(update={"occurred_at": at("2026-10-06")}), at("2026-10-06")),
        recorded(moved, at("2026-10-08")),
        recorded(late, at("2026-10-22")),
    ]


def project(db: Database, facts: list[Fact]) -> Projector:
    projector = Projector(db, POLICY)
    projector.process([Recorded(i + 1, fact) for i, fact in enumerate(facts)])
    return projector


def row(db: Database, rid: UUID, *columns: str) -> tuple[Any, ...]:
    (found,) = db.query(f"SELECT {', '.join(columns)} FROM referral_view WHERE referral_id = ?", [str(rid)])
    return tuple(found)


def late_reports(db: Database, as_of: datetime) -> int:
    (trend,) = trends(db, Dimension.CLINIC, "2026-10", as_of=as_of)
    return trend.misses.late_reports


def test_report_late_is_kept_when_the_store_recorded_it_and_changes_no_status(db: Database) -> None:
    rid = uuid4()
    project(db, reported_late_then_visit_moved(rid))
    assert row(db, rid, "status", "report_late") == ("closed", "2026-10-22T12:00:00.000000Z")


def test_a_report_feedback_recorded_late_counts_late_once_known(db: Database) -> None:
    project(db, reported_late_then_visit_moved(uuid4()))
    # by the times alone it was on time: sent on the 6th, due (as moved) on the 19th
    assert late_reports(db, at("2026-10-21")) == 0, "feedback's word not known yet on the 21st"
    assert late_reports(db, at("2026-10-23")) == 1
    assert late_reports(db, at("2026-12-01")) == 1


def test_a_view_made_before_report_late_gets_the_column_and_keeps_its_rows(db: Database) -> None:
    rid = uuid4()
    old = [c for c in schema.REFERRAL_COLUMNS[1:] if c not in schema.ADDED_COLUMNS]
    columns = ", ".join(
        f"{c} {'INTEGER NOT NULL DEFAULT 0' if c in schema.INTEGER_COLUMNS else 'TEXT'}" for c in old
    )
    with db.transaction() as cursor:
        cursor.execute(f"CREATE TABLE referral_view (referral_id TEXT PRIMARY KEY, {columns})")
        cursor.execute("INSERT INTO referral_view (referral_id, status) VALUES (?, 'closed')", [str(rid)])
    schema.create(db)
    schema.create(db)  # again: nothing to add
    assert row(db, rid, "status", "report_late") == ("closed", None)
    late = ReportLate.new(rid, Deadline(due_at=at("2026-10-05", 0)), FEEDBACK, occurred_at=at("2026-10-06"))
    project(db, [recorded(late, at("2026-10-06"))])
    assert row(db, rid, "status", "report_late") == ("closed", "2026-10-06T12:00:00.000000Z")
    (whole,) = db.query("SELECT * FROM referral_view")  # in REFERRAL_COLUMNS' order, as a rebuild copies
    assert len(whole) == len(schema.REFERRAL_COLUMNS) and whole[-1] == "2026-10-06T12:00:00.000000Z"
