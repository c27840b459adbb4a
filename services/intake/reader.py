"""Reading referrals back from the event store, off the event loop.

A stored fact that no longer decodes (a value recorded before the contracts had ranges) does not
fail the page: it is left out of the timeline and counted (`ReferralView.unreadable`), and the
status still follows every fact's type. A referral whose ReferralReceived cannot be read is not
shown (it has nothing to show): it is left out of the list and its page is not found.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from contracts import Fact
from contracts.events import ReferralReceived
from referral_loop.domain.lifecycle import Status, status_after
from referral_loop.store.ledger import ReferralLedger
from referral_loop.store.opening import open_readable
from referral_loop.store.referral import Referral

RECEIVED_TOPIC = f"{Referral.__module__}:Referral.ReferralReceived"


@dataclass(frozen=True)
class ReferralView:
    referral_id: UUID
    status: Status
    received: ReferralReceived
    timeline: list[Fact]
    unreadable: int = 0
    """How many of the referral's facts could not be read (left out of `timeline`)."""

    @property
    def received_at(self) -> datetime:
        return self.received.occurred_at


class ReferralReader:
    def __init__(self, ledger: ReferralLedger) -> None:
        self.ledger = ledger

    async def get(self, referral_id: UUID) -> ReferralView | None:
        return await asyncio.to_thread(self._get, referral_id)

    async def status(self, referral_id: UUID) -> Status | None:
        """The referral's status alone (for lifecycle checks): its facts' types, nothing decoded."""
        return (await self.standing(referral_id))[0]

    async def standing(self, referral_id: UUID) -> tuple[Status | None, frozenset[str]]:
        """Its status and the event ids recorded about it (a retried fact is known by its id)."""
        return await asyncio.to_thread(self._standing, referral_id)

    async def recent(self, limit: int = 50) -> list[ReferralView]:
        """The most recently recorded referrals, newest first, with their status."""
        return await asyncio.to_thread(self._recent, limit)

    def _get(self, referral_id: UUID) -> ReferralView | None:
        """One read of the referral's events gives both its timeline and its status."""
        stored = [e.fact for e in self.ledger.events.get(referral_id)]  # type: ignore[attr-defined]
        types = [str(f.get("type")) for f in stored if isinstance(f, dict)]
        if "PatientForgotten" in types:
            self.ledger.patient_keys.forget_cached()  # no key of a forgotten patient outlives it here
        opened = open_readable(self.ledger.patient_keys, stored)
        timeline = [fact for fact, _ in (o for o in opened if not isinstance(o, Exception))]
        if not timeline or not isinstance(received := timeline[0], ReferralReceived):
            return None
        unreadable = len(stored) - len(timeline)
        return ReferralView(referral_id, status_after(types), received, timeline, unreadable)

    def _standing(self, referral_id: UUID) -> tuple[Status | None, frozenset[str]]:
        facts = [e.fact for e in self.ledger.events.get(referral_id)]  # type: ignore[attr-defined]
        status = status_after(f["type"] for f in facts) if facts else None
        return status, frozenset(str(f["event_id"]) for f in facts)

    def _recent(self, limit: int) -> list[ReferralView]:
        recorder = self.ledger.recorder
        last = recorder.max_notification_id() or 0
        start = max(1, last - 20 * limit)
        notes = recorder.select_notifications(start, limit=20 * limit, topics=[RECEIVED_TOPIC])
        ids = [n.originator_id for n in reversed(notes)][:limit]
        views = (self._get(i if isinstance(i, UUID) else UUID(i)) for i in ids)
        return [v for v in views if v is not None]
