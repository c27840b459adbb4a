"""Reading everything in the event store back, for tests that count what was recorded."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from uuid import UUID

from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.ledger import ReferralLedger

PAGE = 1000


def recorded_event_ids(ledger: ReferralLedger) -> Counter[str]:
    """How many times each fact's event id was recorded (all should be 1)."""
    counts: Counter[str] = Counter()
    start = 1
    while True:
        page = ledger.recorder.select_notifications(start, limit=PAGE)
        for notification in page:
            event = ledger.mapper.to_domain_event(notification)
            counts[event.fact["event_id"]] += 1  # type: ignore[attr-defined]
        if len(page) < PAGE:
            return counts
        start = page[-1].id + 1


def all_recorded(settings: Settings, referral_ids: Iterable[str]) -> bool:
    """Whether the store holds every one of these referrals (opened afresh for the question)."""
    ledger = open_ledger(settings)
    try:
        return all(ledger.referral(UUID(rid)) is not None for rid in referral_ids)
    finally:
        ledger.close()
