"""Drafting a letter from a feedback case (its PHI opened: `sealing.Phi`), and the facts that
record what happened to it."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from contracts import Actor, ActorKind, Fact
from contracts.events import (
    AcknowledgementSent,
    Delivery,
    DeliveryFailed,
    FeedbackFailed,
    FeedbackKind,
    ReportDueSoon,
    ReportOverdue,
    ReportSent,
    ThankYouSent,
)
from contracts.events import Deadline as DeadlineData
from services.feedback.case import FeedbackCase
from services.feedback.letters import Kind, Letter, Practice
from services.feedback.sealing import Phi

FEEDBACK = Actor(kind=ActorKind.SERVICE, name="feedback")
ESCALATION = "escalation:"
SENT_FACTS: dict[str, type[Fact]] = {
    "acknowledgement": AcknowledgementSent,
    "report": ReportSent,
    "thank_you": ThankYouSent,
}
DEADLINE_FACTS: dict[str, type[Fact]] = {"due_soon": ReportDueSoon, "overdue": ReportOverdue}
WHY = {
    "due_soon": "The consult report is due soon and has not gone out yet.",
    "overdue": "The consult report is overdue: the patient may be back with the referring provider first.",
}


class NoAddress(Exception):
    """The referral has no report address on file for the referring office."""


def recipient(case: FeedbackCase, key: str, practice: Practice) -> str:
    if key.startswith(ESCALATION):
        return practice.ops_email
    address = case.referral["referring_clinic"].get("report_email")
    if not address:
        raise NoAddress("no report email on file for the referring office")
    return str(address)


def letter_for(case: FeedbackCase, key: str, practice: Practice, phi: Phi) -> Letter:
    """The letter a send key stands for ('report', 'escalation:overdue' ...), from recorded facts
    only: the case, and its referral and summary opened (`phi`)."""
    return Letter(
        kind=Kind.ESCALATION if key.startswith(ESCALATION) else Kind(key),
        referral_id=case.id,
        to=recipient(case, key, practice),
        practice=practice,
        referral=phi.referral,
        received_at=datetime.fromisoformat(case.received_at),
        seen_at=datetime.fromisoformat(case.seen_at) if case.seen_at else None,
        summary=phi.summary,
        return_visit_on=case.return_visit(),
        referrals_from_office=case.referrals_from_office,
        due_at=case.due(),
        escalation=escalation_text(case, key),
        topic=key.removeprefix(ESCALATION).replace(":", "-").replace("_", "-")
        if key.startswith(ESCALATION)
        else "",
    )


def escalation_text(case: FeedbackCase, key: str) -> str | None:
    if not key.startswith(ESCALATION):
        return None
    topic = key.removeprefix(ESCALATION)
    if topic.startswith("failed:"):
        failed = topic.removeprefix("failed:")
        return f"The {failed.replace('_', ' ')} could not be delivered: {case.failed.get(failed, 'unknown reason')}."
    return WHY.get(topic, topic)


def fact_id(referral_id: UUID, name: str) -> UUID:
    """Deterministic: the same announcement always has the same event id (deduplicated downstream)."""
    return uuid5(referral_id, f"feedback:{name}")


def sent_fact(case: FeedbackCase, key: str, message_id: str, at: datetime) -> Fact | None:
    fact_class = SENT_FACTS.get(key)
    if fact_class is None:
        return None
    data = Delivery(message_id=message_id, sent_to=recipient(case, key, _NO_PRACTICE))
    return fact_class.new(case.id, data, FEEDBACK, occurred_at=at, event_id=fact_id(case.id, key))


def failed_fact(case: FeedbackCase, key: str, reason: str, at: datetime) -> Fact:
    data = DeliveryFailed(kind=FeedbackKind(key), reason=reason[:200])
    return FeedbackFailed.new(
        case.id, data, FEEDBACK, occurred_at=at, event_id=fact_id(case.id, f"failed:{key}")
    )


def deadline_fact(case: FeedbackCase, name: str, at: datetime) -> Fact:
    due = case.due()
    assert due is not None
    fact_class = DEADLINE_FACTS[name]
    return fact_class.new(
        case.id, DeadlineData(due_at=due), FEEDBACK, occurred_at=at, event_id=fact_id(case.id, name)
    )


_NO_PRACTICE = Practice(name="", address="", phone="", email="", ops_email="")
