"""Commands on a feedback case after something happened: a send, a failure, a deadline, or the
patient found forgotten while drafting."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from services.feedback.case import FeedbackCase
from services.feedback.drafting import ESCALATION, deadline_fact, failed_fact, sent_fact

Command = Callable[[FeedbackCase], None]


def sent(key: str, message_id: str, at: datetime) -> Command:
    """The server accepted it: never send it again; announce it until the referral store has it."""

    def command(case: FeedbackCase) -> None:
        case.mark_sent(key, message_id)
        fact = sent_fact(case, key, message_id, at)
        if fact is not None:
            case.announce(fact.model_dump(mode="json"))

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
    """A report deadline was reached with the report not out: record, announce and escalate."""

    def command(case: FeedbackCase) -> None:
        if name in case.deadlines_reached or case.forgotten:
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
