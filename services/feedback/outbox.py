"""Open work in memory, rebuilt from feedback's store at start: nothing here is the record.

What must be sent, what must be announced, which report deadlines to watch, each with its
next try. Retries back off (1 s doubling to 60 s); the durable decisions live in the store.
The report goes before its deadlines: none fires while the report is still to be tried or is
being sent (a visit long past gets its report, late, not an escalation as well).
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from services.feedback.case import FeedbackCase
from services.feedback.policy import REPORT

MAX_BACKOFF = timedelta(seconds=60)
RECHECK_ANNOUNCED = timedelta(seconds=30)
Item = tuple[UUID, str]
PRIORITY = {REPORT: 0, "thank_you": 1, "acknowledgement": 2}
"""The report goes first (in a case and across cases): it is the one with a deadline."""


@dataclass
class Attempt:
    next_at: datetime
    tries: int = 0
    sending: bool = False
    """Taken into the sender's batch: its outcome is not known yet."""

    def due(self, now: datetime) -> bool:
        """Due at `next_at`, or at once if that is further off than any wait we set: the wall
        clock went back, and a retry must not wait for it to catch up (hours, or days)."""
        return self.next_at <= now or self.next_at - now > MAX_BACKOFF

    def later(self, now: datetime, base: timedelta = timedelta(seconds=1)) -> None:
        self.tries += 1
        self.next_at = now + min(base * 2 ** (self.tries - 1), MAX_BACKOFF)


DEADLINES = frozenset({"due_soon", "overdue"})


@dataclass
class Watch:
    due_at: datetime
    recorded: set[str]
    """The deadlines already recorded for this report."""
    report: Attempt | None = None
    """The report's send, while it is to be sent (None: it failed for good)."""

    @property
    def reached(self) -> set[str]:
        """The deadlines that must not fire now: those recorded, and every one while the report
        has not been tried yet or is being sent (escalate only a report that did not go out)."""
        if self.report is not None and (self.report.tries == 0 or self.report.sending):
            return set(DEADLINES)
        return self.recorded


@dataclass
class Outbox:
    sends: dict[UUID, dict[str, Attempt]] = field(default_factory=dict)
    announcements: dict[UUID, dict[str, tuple[dict[str, Any], Attempt]]] = field(default_factory=dict)
    deadlines: dict[UUID, Watch] = field(default_factory=dict)

    def track(self, case: FeedbackCase, now: datetime) -> None:
        """Bring this case's open work up to date with what the store says."""
        rid = case.id
        sends = self.sends.get(rid, {})
        keys = sorted(case.pending, key=lambda key: PRIORITY.get(key, len(PRIORITY)))
        attempts = {k: sends.get(k) or Attempt(now) for k in keys}
        self._set(self.sends, rid, attempts)
        known = self.announcements.get(rid, {})
        fresh = {t: known.get(t) or (fact, Attempt(now)) for t, fact in case.announcing.items()}
        self._set(self.announcements, rid, fresh)
        due = case.due()
        if due is not None and case.awaiting_report and "overdue" not in case.deadlines_reached:
            self.deadlines[rid] = Watch(due, set(case.deadlines_reached), attempts.get(REPORT))
        else:
            self.deadlines.pop(rid, None)

    @staticmethod
    def _set(table: dict[UUID, Any], rid: UUID, entries: dict[str, Any]) -> None:
        if entries:
            table[rid] = entries
        else:
            table.pop(rid, None)

    def due_sends(self, now: datetime, limit: int) -> list[Item]:
        """Up to `limit` sends due now: reports first, then by when they were tracked."""
        due = ((rid, key) for rid, keys in self.sends.items() for key, a in keys.items() if a.due(now))
        return heapq.nsmallest(limit, due, key=lambda item: PRIORITY.get(item[1], len(PRIORITY)))

    def due_announcements(self, now: datetime, limit: int) -> list[tuple[Item, dict[str, Any]]]:
        due = (
            ((rid, t), fact)
            for rid, facts in self.announcements.items()
            for t, (fact, attempt) in facts.items()
            if attempt.due(now)
        )
        return list(itertools.islice(due, limit))

    def taken(self, items: list[Item]) -> None:
        """These sends are in the sender's batch, until `settled`."""
        for rid, key in items:
            if (attempt := self.sends.get(rid, {}).get(key)) is not None:
                attempt.sending = True

    def settled(self, items: list[Item]) -> None:
        """The batch is done: sends still here were not recorded as done (retried later)."""
        for rid, key in items:
            if (attempt := self.sends.get(rid, {}).get(key)) is not None:
                attempt.sending = False

    def send_failed(self, item: Item, now: datetime) -> None:
        attempt = self.sends.get(item[0], {}).get(item[1])
        if attempt is not None:
            attempt.later(now)
            attempt.sending = False

    def announced(self, item: Item, now: datetime, ok: bool) -> None:
        """Published (look again later in case it never reaches the store) or not (back off)."""
        entry = self.announcements.get(item[0], {}).get(item[1])
        if entry is None:
            return
        if ok:
            entry[1].next_at = now + RECHECK_ANNOUNCED
        else:
            entry[1].later(now)
