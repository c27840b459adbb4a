"""The Referral aggregate: one referral's life at the practice, as the facts recorded about it.

Each stored event carries the fact's contract envelope as JSON (`fact`), so any reader can
decode the store with `contracts` alone. The aggregate keeps only what its rules need: the
lifecycle status and the ids of the facts already recorded (so a repeat changes nothing).
The lifecycle's rules (statuses, which fact may follow which) are
`referral_loop/domain/lifecycle.py`'s; this class and its events stay in this module because the
store keeps each event's topic (`referral_loop.store.referral:Referral.<Fact>`).

The event classes are written out, one per fact type of `contracts.events.PUBLISHED_BY` (the one
list), so that each stored topic names a class a reader can see; tests/store/test_stored_topics.py
fails if they and the list part ways.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from contracts import Fact
from referral_loop.domain.lifecycle import ALLOWED_FROM, STATUS_AFTER, LifecycleError, Status
from referral_loop.store.patient_phi import sealed_key


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


def as_stored(fact: Fact) -> dict[str, Any]:
    return fact.model_dump(mode="json")
