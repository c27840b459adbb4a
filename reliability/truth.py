"""What the system holds at the end: the referral store's facts and the mail sink's messages.

Read with the project's own store code (SQLite or PostgreSQL, whichever the settings name) and
the sink's `.eml` files (by Message-ID), then kept as plain counts the checker can judge.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path
from uuid import UUID

from contracts.events import ReferralReceived
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.follower import read_page
from referral_loop.store.ledger import ReferralLedger

PAGE = 2000
ANNOUNCEMENTS = frozenset({"AcknowledgementSent", "ReportSent", "ThankYouSent"})


@dataclass
class Truth:
    received: dict[str, list[UUID]] = field(default_factory=dict)
    """Marker -> the referral ids recorded with it (one per ReferralReceived fact)."""
    unmarked: list[UUID] = field(default_factory=list)
    """Referrals recorded without a marker: nobody in this run submitted them."""
    seen: Counter[UUID] = field(default_factory=Counter)
    """PatientSeen facts recorded per referral."""
    facts: int = 0
    repeated_facts: int = 0
    """Facts whose event id the store holds more than once."""
    emails: Counter[str] = field(default_factory=Counter)
    """Message-ID -> how many copies the mail sink received."""
    announced: set[tuple[UUID, str]] = field(default_factory=set)
    """(referral, fact type) of feedback's announcements recorded: ReportSent, ThankYouSent ..."""
    last_position: int = 0
    """The store's last notification position: how far a follower must have read."""

    @property
    def referrals(self) -> int:
        return sum(len(ids) for ids in self.received.values()) + len(self.unmarked)


def read_truth(settings: Settings) -> Truth:
    truth = Truth(emails=read_mail(settings.mail_dir))
    ledger = open_ledger(settings)
    try:
        read_store(ledger, truth)
    finally:
        ledger.close()
    return truth


def read_store(ledger: ReferralLedger, truth: Truth) -> None:
    event_ids: Counter[UUID] = Counter()
    after = 0
    while page := read_page(ledger, after, PAGE):
        for recorded in page:
            fact = recorded.fact
            event_ids[fact.event_id] += 1
            if isinstance(fact, ReferralReceived):
                marker = fact.data.external_reference
                if marker:
                    truth.received.setdefault(marker, []).append(fact.referral_id)
                else:
                    truth.unmarked.append(fact.referral_id)
            elif fact.type == "PatientSeen":
                truth.seen[fact.referral_id] += 1
            elif fact.type in ANNOUNCEMENTS:
                truth.announced.add((fact.referral_id, fact.type))
        after = truth.last_position = page[-1].position
    truth.facts = sum(event_ids.values())
    truth.repeated_facts = sum(n - 1 for n in event_ids.values() if n > 1)


def read_mail(directory: Path) -> Counter[str]:
    """Message-ID -> copies, over every stored message (the sink writes each file atomically)."""
    found: Counter[str] = Counter()
    parser = BytesHeaderParser(policy=policy.compat32)
    for path in sorted(directory.glob("*.eml")) if directory.is_dir() else []:
        head = path.read_bytes().partition(b"\r\n\r\n")[0]
        found[str(parser.parsebytes(head + b"\r\n\r\n").get("Message-ID", "")).strip()] += 1
    return found
