"""The facts feedback set aside: recorded in its own store with the position past them, ops told once.

A fact feedback cannot decode or decide on (`referral_loop/store/quarantine.py`) is set aside: a
`QuarantinedFact` aggregate (its id derived from the fact's store position), saved in the same
transaction as the page's decisions and the tracking position that moves past it. Ops are told by
one email per batch of entries not yet told (`notice.py`); `OpsTold` records that it went (or why
it could not), so no entry is ever mailed twice once recorded. `Quarantine` is what this process
knows of them: how many, and those ops have not been told about yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from referral_loop.store.quarantine import SetAside
from services.feedback.outbox import Attempt

QUARANTINE = uuid5(NAMESPACE_URL, "https://referral-loop.invalid/feedback-quarantine")


class QuarantinedFact(Aggregate):
    """One referral-store fact feedback moved past without deciding on it. No patient details."""

    @staticmethod
    def create_id(position: int, **_: Any) -> UUID:
        return uuid5(QUARANTINE, str(position))

    @event("SetAside")
    def __init__(
        self,
        position: int,
        fact_type: str,
        reason: str,
        referral_id: str | None,
        event_id: str | None,
        at: str,
    ) -> None:
        self.position, self.fact_type, self.reason = position, fact_type, reason
        self.referral_id, self.event_id, self.at = referral_id, event_id, at
        self.told: str | None = None
        """The ops email's Message-ID once sent, or why it could not be sent."""

    @event("OpsTold")
    def tell(self, outcome: str) -> None:
        self.told = outcome

    @classmethod
    def of(cls, entry: SetAside) -> QuarantinedFact:
        return cls(**entry.as_dict())


@dataclass
class Quarantine:
    """The entries this process knows: how many in all, and those ops were not told about yet."""

    count: int = 0
    untold: dict[int, QuarantinedFact] = field(default_factory=dict)
    attempt: Attempt | None = None
    """When to try telling ops again after a transient failure (None: at once)."""

    def add(self, entries: list[QuarantinedFact]) -> None:
        self.count += len(entries)
        self.untold.update((e.position, e) for e in entries if e.told is None)

    def due(self, now: datetime) -> list[QuarantinedFact]:
        """The entries to tell ops about now, in store order."""
        if self.attempt is not None and not self.attempt.due(now):
            return []
        return [self.untold[p] for p in sorted(self.untold)]

    def later(self, now: datetime) -> None:
        self.attempt = self.attempt or Attempt(now)
        self.attempt.later(now)

    def told(self, entries: list[QuarantinedFact]) -> None:
        for entry in entries:
            self.untold.pop(entry.position, None)
        self.attempt = None
