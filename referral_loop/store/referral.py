"""The Referral aggregate: one referral's life at the practice, as the facts recorded about it.

Each stored event carries the fact's contract envelope as JSON (`fact`), so any reader can
decode the store with `contracts` alone. The aggregate keeps only what its rules need: the
lifecycle status and the ids of the facts already recorded (so a repeat changes nothing).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from contracts import Fact
from referral_loop.store.patient_phi import sealed_key


class Status(StrEnum):
    RECEIVED = "received"
    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    NO_SHOW = "no_show"
    SEEN = "seen"
    CLOSED = "closed"
    """The consult report went to the referring provider: the loop is closed."""
    DECLINED = "declined"
    CANCELLED = "cancelled"


OPEN = frozenset({Status.RECEIVED, Status.ACCEPTED, Status.SCHEDULED, Status.NO_SHOW})

ALLOWED_FROM: dict[str, frozenset[Status]] = {
    "ReferralAccepted": frozenset({Status.RECEIVED}),
    "ReferralDeclined": frozenset({Status.RECEIVED, Status.ACCEPTED}),
    "ReferralCancelled": OPEN,
    "AppointmentScheduled": OPEN,
    "AppointmentCancelled": frozenset({Status.SCHEDULED}),
    "PatientNoShow": frozenset({Status.SCHEDULED}),
    "PatientSeen": OPEN,
    "ReturnVisitScheduled": OPEN | {Status.SEEN, Status.CLOSED},
    "ReportSent": frozenset({Status.SEEN}),
    "ThankYouSent": frozenset({Status.SEEN, Status.CLOSED}),
    "AcknowledgementSent": frozenset(Status),
    "ReportDueSoon": frozenset({Status.SEEN, Status.CLOSED}),
    "ReportOverdue": frozenset({Status.SEEN, Status.CLOSED}),
    "ReportLate": frozenset({Status.SEEN, Status.CLOSED}),
    "FeedbackFailed": frozenset(Status),
    "PatientForgotten": frozenset(Status),
}

STATUS_AFTER: dict[str, Status] = {
    "ReferralAccepted": Status.ACCEPTED,
    "ReferralDeclined": Status.DECLINED,
    "ReferralCancelled": Status.CANCELLED,
    "AppointmentScheduled": Status.SCHEDULED,
    "AppointmentCancelled": Status.ACCEPTED,
    "PatientNoShow": Status.NO_SHOW,
    "PatientSeen": Status.SEEN,
    "ReportSent": Status.CLOSED,
}


class LifecycleError(Exception):
    """A fact the referral's lifecycle does not allow now: it can never be recorded."""


class Referral(Aggregate):
    class Event(Aggregate.Event):
        fact: dict[str, Any]

        def apply(self, referral: Any) -> None:
            referral.fact_ids.add(self.fact["event_id"])
            referral.status = STATUS_AFTER.get(self.fact["type"], referral.status)

    @staticmethod
    def create_id(fact: dict[str, Any]) -> UUID:
        return UUID(fact["referral_id"])

    @event("ReferralReceived")
    def __init__(self, fact: dict[str, Any]) -> None:
        self.status = Status.RECEIVED
        self.fact_ids: set[str] = {fact["event_id"]}
        self.patient_key_id: str | None = sealed_key(fact["data"])
        """The patient's data key its PHI is sealed under (None: recorded before sealing)."""

    class ReferralAccepted(Event): ...

    class ReferralDeclined(Event): ...

    class ReferralCancelled(Event): ...

    class AppointmentScheduled(Event): ...

    class AppointmentCancelled(Event): ...

    class PatientNoShow(Event): ...

    class PatientSeen(Event): ...

    class ReturnVisitScheduled(Event): ...

    class ReportSent(Event): ...

    class ThankYouSent(Event): ...

    class AcknowledgementSent(Event): ...

    class ReportDueSoon(Event): ...

    class ReportOverdue(Event): ...

    class ReportLate(Event): ...

    class FeedbackFailed(Event): ...

    class PatientForgotten(Event): ...

    def has_recorded(self, fact: Fact) -> bool:
        return str(fact.event_id) in self.fact_ids

    def record(self, fact: Fact, stored: dict[str, Any] | None = None) -> None:
        """Record a later fact about this referral, if its lifecycle allows it now (`stored`:
        the fact as the store keeps it, its PHI sealed; by default the fact as it is)."""
        allowed = ALLOWED_FROM.get(fact.type)
        if allowed is None:
            raise LifecycleError(f"{fact.type} cannot be recorded on an existing referral")
        if self.status not in allowed:
            raise LifecycleError(f"{fact.type} is not allowed on a referral that is {self.status.value}")
        self.trigger_event(getattr(Referral, fact.type), fact=stored or as_stored(fact))


def status_after(fact_types: Iterable[str]) -> Status:
    """The status a referral has after these facts, in order (the aggregate applies the same map)."""
    status = Status.RECEIVED
    for fact_type in fact_types:
        status = STATUS_AFTER.get(fact_type, status)
    return status


def as_stored(fact: Fact) -> dict[str, Any]:
    return fact.model_dump(mode="json")
