"""Refusals of callers nobody authenticated: recorded one by one up to a bound, then counted.

Anyone can send requests without credentials, or with a made-up user name and password, and
each refusal used to write a durable entry: an unbounded stream of rows (and fsyncs) at the
sender's will. Here, per process and per window of `window_s` seconds, the first `individually`
such refusals are recorded as before (who was claimed, what was asked); the rest are counted by
what they asked for and how they were refused (action, what, outcome, the refusal without the
referral the path named), and one summary entry per kind ("N more ...") is written when the
window is over: at the first entry recorded after it, or when the log closes. The kinds are the
routes' fixed actions and refusal codes, so a window writes at most `individually` entries and
a handful of summaries whatever is sent. Counts live in memory: a process killed before its
summary loses that window's count (never an authenticated caller's entry: those are all kept).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from referral_loop.web.audit import AuditEvent

UNAUTHENTICATED_ROLES = frozenset({"none", "unverified"})
"""The roles audited.py gives a refused caller it could not authenticate."""
ANONYMOUS = ("anonymous", "none")
WINDOW_S = 60.0
INDIVIDUALLY = 100
Kind = tuple[str, str, str, str]


def kind_of(event: AuditEvent) -> Kind:
    """What a refusal is counted by: nothing the caller chose (the referral in the path dropped)."""
    return event.action, event.what, event.outcome, event.detail.partition(" (referral ")[0]


@dataclass
class Unauthenticated:
    """The current window: how many were recorded one by one, how many of each kind counted."""

    window_s: float = WINDOW_S
    individually: int = INDIVIDUALLY
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    started: datetime | None = None
    recorded: int = 0
    counted: dict[Kind, tuple[AuditEvent, int]] = field(default_factory=dict)
    """Per kind: its first refusal counted, and how many."""

    def admit(self, event: AuditEvent) -> bool:
        """Whether to record this refusal one by one; if not, it is counted."""
        if self.recorded < self.individually:
            self.recorded += 1
            return True
        first, n = self.counted.get(kind_of(event), (event, 0))
        self.counted[kind_of(event)] = (first, n + 1)
        return False

    def due(self) -> list[AuditEvent]:
        """The summaries of a window that is over (a new one starts); none while it lasts."""
        now = self.clock()
        if self.started is not None and now < self.started + timedelta(seconds=self.window_s):
            return []
        summaries = self.drain(now)
        self.started = now
        return summaries

    def drain(self, now: datetime | None = None) -> list[AuditEvent]:
        """The summaries of what was counted so far (at close), and a fresh count."""
        end = now or self.clock()
        span = f"{self.started or end:%Y-%m-%d %H:%M:%S} to {end:%H:%M:%S} UTC"
        summaries = [
            replace(first, who=ANONYMOUS[0], role=ANONYMOUS[1], referral_ids=(), at=end,
                    detail=f"{kind[3]}: {n} more from unauthenticated callers, {span}, counted, not one by one")
            for kind, (first, n) in sorted(self.counted.items())
        ]  # fmt: skip
        self.recorded, self.counted = 0, {}
        return summaries


def unauthenticated(event: AuditEvent) -> bool:
    return event.role in UNAUTHENTICATED_ROLES
