"""Commands on a feedback case after something happened: a send, a failure, a deadline, or the
patient found forgotten while drafting."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from contracts import Fact
from contracts.events import Deadline, ReportLate
from services.feedback.case import FeedbackCase
from services.feedback.drafting import ESCALATION, FEEDBACK, deadline_fact, fact_id, failed_fact, sent_fact

Command = Callable[[FeedbackCase], None]
REPORT, DUE_SOON = "report", "due_soon"


def sent(key: str, message_id: str, at: datetime) -> Command:
    """The server accepted it: never send it again; announce it until the referral store has it.
    A report accepted after its due time is announced as late too (instead of escalated)."""

    def command(case: FeedbackCase) -> None:
        due, first = case.due(), key not in case.sent
        case.mark_sent(key, message_id)
        fact = sent_fact(case, key, message_id, at)
        if fact is not None:
            case.announce(fact.model_dump(mode="json"))
        if key == REPORT and first and due is not None and at > due:
            case.announce(late_fact(case, due, at).model_dump(mode="json"))

    return command


def failed(key: str, reason: str, at: datetime) -> Command:
    """It can never go as it is: record why, tell the referral's timeline, escalate once."""

    def command(case: FeedbackCase) -> None:
        case.mark_failed(key, reason)
        if not key.startswith(ESCALATION):
            case.announce(failed_fact(case, key, reason, at).model_dump(mode="json"))
            case.request(f"{ESCALATION}failed:{key}")

    return command


def deadline(name: str, at: datetime) -> Command:
    """A report deadline was reached with the report not out: record, announce and escalate.
    Nothing once the report went out (it may have while the deadline was on its way here), nor
    'due soon' at or after the due time."""

    def command(case: FeedbackCase) -> None:
        due = case.due()
        if name in case.deadlines_reached or not case.awaiting_report or due is None:
            return
        if name == DUE_SOON and at >= due:
            return
        case.reach_deadline(name, at.isoformat())
        case.announce(deadline_fact(case, name, at).model_dump(mode="json"))
        case.request(f"{ESCALATION}{name}")

    return command


def forgotten(at: datetime) -> Command:
    """The patient's data key was found destroyed: the case is closed, no letter goes."""

    def command(case: FeedbackCase) -> None:
        case.forget(at.isoformat())

    return command


def late_fact(case: FeedbackCase, due: datetime, at: datetime) -> Fact:
    """The report went out at `at`, after its due time: one per referral (a deterministic id)."""
    event_id = fact_id(case.id, "late")
    return ReportLate.new(case.id, Deadline(due_at=due), FEEDBACK, occurred_at=at, event_id=event_id)
