"""What the client did, as a Jepsen history: every referral submission and every PatientSeen,
with each attempt's outcome, and every process the run killed.

A submission is found again in the store by its marker: the referral's `external_reference`
(also its Idempotency-Key, so a retry names the same referral and the same fact).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from uuid import UUID


class Outcome(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    """HTTP 2xx with the referral id: the system promised to keep it."""
    REFUSED = "refused"
    """A definite no (4xx) before any attempt could have got through."""
    UNKNOWN = "unknown"
    """No answer (connection dropped, timeout) or 503: it may or may not have got in."""


@dataclass
class Submission:
    """One thing the client asked for, perhaps retried with the same Idempotency-Key."""

    marker: str
    attempts: list[Outcome] = field(default_factory=list)
    referral_id: UUID | None = None

    @property
    def outcome(self) -> Outcome:
        """Acknowledged if any attempt was; refused only when every attempt was refused (a refusal
        after an unanswered attempt may be that attempt's effect); else unknown."""
        if Outcome.ACKNOWLEDGED in self.attempts:
            return Outcome.ACKNOWLEDGED
        if self.attempts and all(a is Outcome.REFUSED for a in self.attempts):
            return Outcome.REFUSED
        return Outcome.UNKNOWN


@dataclass(frozen=True)
class Kill:
    process: str
    at: float


@dataclass
class History:
    referrals: dict[str, Submission] = field(default_factory=dict)
    """By marker: each ReferralReceived submission."""
    seen: dict[str, Submission] = field(default_factory=dict)
    """By the referral's marker: each PatientSeen submission."""
    kills: list[Kill] = field(default_factory=list)

    def referral(self, marker: str, outcome: Outcome, referral_id: UUID | None = None) -> None:
        self._attempt(self.referrals, marker, outcome, referral_id)

    def patient_seen(self, marker: str, outcome: Outcome, referral_id: UUID) -> None:
        self._attempt(self.seen, marker, outcome, referral_id)

    def killed(self, process: str) -> None:
        self.kills.append(Kill(process, time.time()))

    def unanswered(self) -> int:
        """Attempts that got no definite answer (each was retried, or left unknown)."""
        every = [*self.referrals.values(), *self.seen.values()]
        return sum(a is Outcome.UNKNOWN for s in every for a in s.attempts)

    def was_killed(self, process: str) -> bool:
        return any(kill.process == process for kill in self.kills)

    @staticmethod
    def _attempt(into: dict[str, Submission], marker: str, outcome: Outcome, rid: UUID | None) -> None:
        submission = into.setdefault(marker, Submission(marker))
        submission.attempts.append(outcome)
        submission.referral_id = submission.referral_id or rid
