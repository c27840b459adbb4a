"""The feedback case: what the practice owes a referring office for one referral, and what it did.

Decisions (send the report, announce ReportSent ...) are events here, recorded in feedback's
own store together with the position of the referral fact that led to them: decided once.
Times are kept as ISO strings in events; the properties give them typed. The referral and the
summary are kept with their PHI sealed under the patient's data key (`sealing.py`); once the
patient is forgotten the case is closed for good: nothing more is requested, pending or watched.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from referral_loop.store.patient_phi import sealed_key

OFFICES = uuid5(NAMESPACE_URL, "https://referral-loop.invalid/referring-office")


class FeedbackCase(Aggregate):
    @staticmethod
    def create_id(referral_id: str, **_: Any) -> UUID:
        return UUID(referral_id)

    @event("Opened")
    def __init__(
        self, referral_id: str, referral: dict[str, Any], received_at: str, referrals_from_office: int
    ) -> None:
        self.referral, self.received_at, self.referrals_from_office = (
            referral,
            received_at,
            referrals_from_office,
        )
        self.return_visit_on: str | None = referral.get("return_visit_on")
        self.seen_at: str | None = None
        self.summary: dict[str, Any] | None = None
        self.due_at: str | None = None
        self.requested: set[str] = set()
        self.sent: dict[str, str] = {}
        self.failed: dict[str, str] = {}
        self.announcing: dict[str, dict[str, Any]] = {}
        self.deadlines_reached: set[str] = set()
        self.forgotten = False

    def request(self, key: str) -> None:
        if key not in self.requested and not self.forgotten:
            self._requested(key)

    @event("SendRequested")
    def _requested(self, key: str) -> None:
        self.requested.add(key)

    @event("ReturnVisitNoted")
    def note_return_visit(self, return_visit_on: str, due_at: str | None) -> None:
        self.return_visit_on, self.due_at = return_visit_on, due_at

    @event("PatientSeenNoted")
    def note_seen(self, seen_at: str, summary: dict[str, Any], due_at: str) -> None:
        self.seen_at, self.summary, self.due_at = seen_at, summary, due_at

    def mark_sent(self, key: str, message_id: str) -> None:
        if key not in self.sent:
            self._sent(key, message_id)

    @event("Sent")
    def _sent(self, key: str, message_id: str) -> None:
        self.sent[key] = message_id
        self.failed.pop(key, None)

    @event("Failed")
    def mark_failed(self, key: str, reason: str) -> None:
        self.failed[key] = reason

    @event("DeadlineReached")
    def reach_deadline(self, name: str, at: str) -> None:
        self.deadlines_reached.add(name)

    def forget(self, at: str) -> None:
        """The patient was forgotten (their data key destroyed): no letter about them any more."""
        if not self.forgotten:
            self._forgotten(at)

    @event("Forgotten")
    def _forgotten(self, at: str) -> None:
        self.forgotten = True

    def announce(self, fact: dict[str, Any]) -> None:
        """Decide to publish this fact (ReportSent ...) until the referral store has it."""
        if fact["event_id"] not in self.announcing:
            self._announce(fact)

    @event("AnnouncementDecided")
    def _announce(self, fact: dict[str, Any]) -> None:
        self.announcing[fact["event_id"]] = fact

    def confirm(self, event_id: str) -> None:
        if event_id in self.announcing:
            self._confirmed(event_id)

    @event("AnnouncementConfirmed")
    def _confirmed(self, event_id: str) -> None:
        self.announcing.pop(event_id)

    @property
    def pending(self) -> set[str]:
        """Sends decided and neither done nor failed for good (none once the patient is forgotten)."""
        if self.forgotten:
            return set()
        return self.requested - set(self.sent) - set(self.failed)

    @property
    def awaiting_report(self) -> bool:
        """The report was decided and has not gone out (pending, or failed for good), and the
        patient was not forgotten: what the deadlines watch."""
        return "report" in self.requested and "report" not in self.sent and not self.forgotten

    @property
    def patient_key_id(self) -> str | None:
        """The id of the data key the case's PHI is sealed under (None: kept as it came)."""
        return sealed_key(self.referral)

    def due(self) -> datetime | None:
        return datetime.fromisoformat(self.due_at) if self.due_at else None

    def return_visit(self) -> date | None:
        return date.fromisoformat(self.return_visit_on) if self.return_visit_on else None


class OfficeTally(Aggregate):
    """How many referrals a referring office has sent: a first referral reads differently."""

    @staticmethod
    def create_id(office: str) -> UUID:
        return uuid5(OFFICES, office)

    @event("Opened")
    def __init__(self, office: str) -> None:
        self.count = 0

    @event("ReferralCounted")
    def count_referral(self) -> None:
        self.count += 1


def office_key(referral: dict[str, Any]) -> str:
    """A referring office, by its report address when known, else by its name."""
    clinic = referral["referring_clinic"]
    return str(clinic.get("report_email") or clinic["name"]).strip().lower()
