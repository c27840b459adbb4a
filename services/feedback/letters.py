"""What an email to a referring office (or to ops) is about: the data its template renders.

A `Letter` is built from recorded facts only, never from free text typed as an address:
its recipient is the referral's referring-clinic report address (or the practice's ops address).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from contracts.events import ConsultSummary
from contracts.referral import Referral


def reference(referral_id: UUID) -> str:
    """A short referral reference for subjects, headers and logs: no PHI, recognisable by staff."""
    return f"RL-{referral_id.hex[:8].upper()}"


class Kind(StrEnum):
    ACKNOWLEDGEMENT = "acknowledgement"
    REPORT = "report"
    THANK_YOU = "thank_you"
    ESCALATION = "escalation"


NOTICES = frozenset({Kind.ACKNOWLEDGEMENT, Kind.REPORT, Kind.THANK_YOU})
"""The letters to referring offices: in minimum email mode, a notice and a link, not the content."""


@dataclass(frozen=True)
class Practice:
    """The specialist practice's branding and addresses, from configuration."""

    name: str
    address: str
    phone: str
    email: str
    ops_email: str


@dataclass(frozen=True)
class Letter:
    kind: Kind
    referral_id: UUID
    to: str
    practice: Practice
    referral: Referral
    received_at: datetime
    seen_at: datetime | None = None
    summary: ConsultSummary | None = None
    return_visit_on: date | None = None
    referrals_from_office: int = 1
    """How many referrals this referring office has sent, this one included (1 = their first)."""
    due_at: datetime | None = None
    escalation: str | None = None
    """For ops: why this referral needs a person (report due soon, delivery failed ...). No PHI."""
    topic: str = ""
    """Tells apart letters of one kind about one referral (escalations: 'overdue', 'failed-report')."""

    @property
    def message_key(self) -> str:
        """What the Message-ID is derived from: the same letter always gets the same Message-ID."""
        return f"{self.kind.value}-{self.topic}" if self.topic else self.kind.value

    @property
    def reference(self) -> str:
        return reference(self.referral_id)

    @property
    def first_referral(self) -> bool:
        return self.referrals_from_office <= 1

    def view_url(self, base: str) -> str:
        """Where the office's clinician reads it after signing in: the report, or the referral."""
        page = "/report" if self.kind is Kind.REPORT else ""
        return f"{base}/referrals/{self.referral_id}{page}"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None
