"""Feedback decides once: given these referral facts, then these sends are decided, with this due time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from contracts import Fact
from contracts.events import Delivery, ReportSent, ReturnVisit, ReturnVisitScheduled
from referral_loop.domain.deadlines import DeadlinePolicy
from services.feedback import commands
from services.feedback.case import FeedbackCase, OfficeTally
from services.feedback.outbox import Outbox
from services.feedback.policy import Decisions
from tests.support import referrals as make

POLICY = DeadlinePolicy(ZoneInfo("America/New_York"), timedelta(hours=24), 2, timedelta(hours=24))


def decide(*facts: Fact, acknowledge: bool = True, store: dict[UUID, Any] | None = None) -> Decisions:
    known = store if store is not None else {}
    decisions = Decisions(lambda _cls, aggregate_id: known.get(aggregate_id), POLICY, acknowledge)
    for fact in facts:
        decisions.apply(fact)
    return decisions


def case_of(decisions: Decisions, rid: UUID) -> FeedbackCase:
    case = decisions.touched[rid]
    assert isinstance(case, FeedbackCase)
    return case


def test_a_received_referral_is_acknowledged_once() -> None:
    received = make.received()
    case = case_of(decide(received, received), received.referral_id)
    assert case.pending == {"acknowledgement"}
    assert [type(e).__name__ for e in case.collect_events()] == ["Opened", "SendRequested"]


def test_acknowledgements_can_be_switched_off() -> None:
    received = make.received()
    assert case_of(decide(received, acknowledge=False), received.referral_id).pending == set()


def test_patient_seen_decides_the_report_and_the_thank_you_due_before_the_return_visit() -> None:
    rid = uuid4()
    decisions = decide(make.received(rid, return_visit_on="2026-12-15"), make.seen(rid), acknowledge=False)
    case = case_of(decisions, rid)
    assert case.pending == {"report", "thank_you"}
    assert case.due() == datetime(2026, 12, 14, 0, 0, tzinfo=ZoneInfo("America/New_York"))


def test_a_later_return_visit_moves_the_due_time() -> None:
    rid = uuid4()
    moved = ReturnVisitScheduled.new(rid, ReturnVisit(return_visit_on=date(2026, 12, 20)), make.STAFF)
    case = case_of(decide(make.received(rid), make.seen(rid), moved), rid)
    assert case.due() == datetime(2026, 12, 19, 0, 0, tzinfo=ZoneInfo("America/New_York"))


def test_with_no_return_visit_the_report_is_due_two_business_days_after_the_visit() -> None:
    rid = uuid4()
    friday_evening = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)  # Friday 20:00 in New York
    seen = make.seen(rid).model_copy(update={"occurred_at": friday_evening})
    case = case_of(decide(make.received(rid, return_visit_on=None), seen), rid)
    assert case.due() == datetime(2026, 11, 24, 20, 0, tzinfo=ZoneInfo("America/New_York"))


def test_the_first_referral_from_an_office_is_counted_as_first_and_the_next_as_second() -> None:
    first, second = make.received(), make.received()
    decisions = decide(first, second)
    assert case_of(decisions, first.referral_id).referrals_from_office == 1
    assert case_of(decisions, second.referral_id).referrals_from_office == 2
    assert any(isinstance(a, OfficeTally) and a.count == 2 for a in decisions.touched.values())


def test_a_report_sent_elsewhere_is_not_sent_again() -> None:
    rid = uuid4()
    elsewhere = ReportSent.new(
        rid, Delivery(message_id="<report.x@p>", sent_to="reports@harbor.example"), make.STAFF
    )
    case = case_of(decide(make.received(rid), make.seen(rid), elsewhere, acknowledge=False), rid)
    assert case.pending == {"thank_you"}
    assert case.sent == {"report": "<report.x@p>"}


def test_deadlines_are_reached_in_order_and_never_both_at_once() -> None:
    due = datetime(2026, 12, 14, tzinfo=UTC)
    assert POLICY.reached(due, due - timedelta(hours=25)) == []
    assert POLICY.reached(due, due - timedelta(hours=23)) == ["due_soon"]
    assert POLICY.reached(due, due) == ["overdue"]


def test_a_forgotten_patient_is_owed_no_letter_and_no_deadline_is_watched() -> None:
    rid, now = uuid4(), datetime.now(UTC)
    decisions = decide(make.received(rid), make.seen(rid), make.forgotten(rid), make.forgotten(rid))
    case = case_of(decisions, rid)
    assert case.forgotten and case.pending == set() and not case.awaiting_report
    requested = set(case.requested)
    decide(make.seen(rid), return_visit(rid, date(2026, 12, 20)), store={rid: case})
    commands.deadline("overdue", now)(case)
    assert case.requested == requested and case.deadlines_reached == set() and case.summary
    outbox = Outbox()
    outbox.track(case, now)
    assert outbox.sends == {} and outbox.deadlines == {}
    assert [type(e).__name__ for e in case.collect_events()].count("Forgotten") == 1


def return_visit(rid: UUID, on: date) -> ReturnVisitScheduled:
    return ReturnVisitScheduled.new(rid, ReturnVisit(return_visit_on=on), make.STAFF)
