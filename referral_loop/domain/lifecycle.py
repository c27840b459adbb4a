"""The referral's lifecycle: its statuses, which fact may follow which status, and the status
each fact leads to.

received -> accepted -> scheduled (-> no_show -> scheduled) -> seen -> closed (report sent);
declined and cancelled end it. The store's Referral aggregate applies these rules to what it
records; intake checks a fact against them before publishing it.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


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


def status_after(fact_types: Iterable[str]) -> Status:
    """The status a referral has after these facts, in order (the aggregate applies the same map)."""
    status = Status.RECEIVED
    for fact_type in fact_types:
        status = STATUS_AFTER.get(fact_type, status)
    return status
