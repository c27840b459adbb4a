"""The report goes before its deadlines: given a visit long past, when feedback decides, then the
report is sent first, recorded late, and ops are not told about it (issue 14, finding 12).

`firing` asks what the service's deadline watch asks (`FeedbackService.watch_deadlines`): the
deadlines the policy says are reached, less those the outbox's watch holds back.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from contracts.events import PatientSeen
from services.feedback import commands
from services.feedback.case import FeedbackCase
from services.feedback.outbox import Outbox
from tests.feedback.test_decisions import POLICY, case_of, decide
from tests.support import referrals as make

NOW = datetime(2026, 12, 7, 16, 0, tzinfo=UTC)
LONG_AGO = datetime(2026, 10, 5, 15, 0, tzinfo=UTC)
"""A Monday: with no return visit the report was due on Wednesday 7 October, 11:00 New York."""


def seen_at(rid: UUID, at: datetime) -> PatientSeen:
    return make.seen(rid).model_copy(update={"occurred_at": at})


def long_past_case() -> FeedbackCase:
    """Given a referral received and seen two months ago, decided in one page now."""
    rid = uuid4()
    case = case_of(decide(make.received(rid, return_visit_on=None), seen_at(rid, LONG_AGO)), rid)
    assert case.due() == datetime(2026, 10, 7, 15, 0, tzinfo=UTC)
    return case


def tracked(case: FeedbackCase, now: datetime = NOW) -> Outbox:
    outbox = Outbox()
    outbox.track(case, now)
    return outbox


def firing(outbox: Outbox, now: datetime = NOW) -> list[tuple[UUID, str]]:
    return [
        (rid, name)
        for rid, watch in outbox.deadlines.items()
        for name in POLICY.reached(watch.due_at, now)
        if name not in watch.reached
    ]


def events(case: FeedbackCase) -> list[str]:
    return [type(e).__name__ for e in case.collect_events()]


def announced(case: FeedbackCase) -> list[str]:
    return [fact["type"] for fact in case.announcing.values()]


def test_a_report_decided_after_its_due_time_goes_first_and_no_deadline_fires_before_it() -> None:
    case = long_past_case()
    outbox = tracked(case)
    assert firing(outbox) == [], "the report has not been tried yet"
    batch = outbox.due_sends(NOW, 50)
    assert batch[0] == (case.id, "report")
    outbox.taken(batch)
    assert firing(outbox, NOW + timedelta(minutes=1)) == [], "the report is being sent"


def test_a_report_sent_after_its_due_time_is_recorded_late_and_not_escalated() -> None:
    case = long_past_case()
    outbox = tracked(case)
    outbox.taken(outbox.due_sends(NOW, 50))
    commands.sent("report", "<report@p>", NOW)(case)
    outbox.settled([(case.id, "report")])
    outbox.track(case, NOW)
    assert announced(case) == ["ReportSent", "ReportLate"]
    (late,) = (f for f in case.announcing.values() if f["type"] == "ReportLate")
    assert late["data"]["due_at"] == "2026-10-07T11:00:00-04:00" and late["occurred_at"].startswith(
        "2026-12-07"
    )
    assert outbox.deadlines == {} and "DeadlineReached" not in events(case)
    assert not any(key.startswith("escalation") for key in case.requested)


def test_a_report_sent_in_time_is_not_recorded_late() -> None:
    case = long_past_case()
    due = case.due()
    assert due is not None
    commands.sent("report", "<report@p>", due)(case)
    assert announced(case) == ["ReportSent"]


def test_only_overdue_fires_once_the_first_try_of_a_late_report_failed() -> None:
    case = long_past_case()
    outbox = tracked(case)
    outbox.taken(outbox.due_sends(NOW, 50))
    outbox.send_failed((case.id, "report"), NOW)
    assert firing(outbox) == [(case.id, "overdue")], "not due soon and overdue at the same instant"
    commands.deadline("overdue", NOW)(case)
    assert case.deadlines_reached == {"overdue"} and "escalation:overdue" in case.requested
    outbox.track(case, NOW)
    assert outbox.deadlines == {}


def test_a_deadline_arriving_after_the_report_went_out_records_nothing() -> None:
    """The watch decided while the report's outcome was on its way to the store."""
    case = long_past_case()
    commands.sent("report", "<report@p>", NOW)(case)
    list(case.collect_events())
    for name in ("due_soon", "overdue"):
        commands.deadline(name, NOW + timedelta(seconds=1))(case)
    assert events(case) == [] and case.deadlines_reached == set()
    assert "ReportOverdue" not in announced(case)


def test_due_soon_is_not_recorded_at_or_after_the_due_time() -> None:
    case = long_past_case()
    due = case.due()
    assert due is not None
    list(case.collect_events())
    commands.deadline("due_soon", due)(case)
    assert events(case) == [] and case.deadlines_reached == set()
    commands.deadline("due_soon", due - timedelta(seconds=1))(case)
    assert events(case) == ["DeadlineReached", "AnnouncementDecided", "SendRequested"]


def test_a_report_waiting_for_a_retry_is_escalated_when_due_soon_then_overdue() -> None:
    """A report that was tried and is still not out at its deadlines: both fire, each at its time."""
    rid, visit = uuid4(), datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    case = case_of(decide(make.received(rid, return_visit_on=None), seen_at(rid, visit)), rid)
    due = case.due()
    assert due is not None
    outbox = tracked(case, visit)
    outbox.taken(outbox.due_sends(visit, 50))
    outbox.send_failed((rid, "report"), visit)
    assert firing(outbox, due - timedelta(hours=25)) == []
    assert firing(outbox, due - timedelta(hours=1)) == [(rid, "due_soon")]
    commands.deadline("due_soon", due - timedelta(hours=1))(case)
    outbox.track(case, due)
    assert firing(outbox, due) == [(rid, "overdue")]


def test_no_deadline_fires_while_a_retry_of_the_report_is_being_sent() -> None:
    case = long_past_case()
    outbox = tracked(case)
    outbox.taken(outbox.due_sends(NOW, 50))
    outbox.send_failed((case.id, "report"), NOW)
    later = NOW + timedelta(seconds=2)
    retry = outbox.due_sends(later, 50)
    assert retry[0] == (case.id, "report")
    outbox.taken(retry)
    assert firing(outbox, later) == []
    outbox.settled(retry)
    assert firing(outbox, later) == [(case.id, "overdue")]
