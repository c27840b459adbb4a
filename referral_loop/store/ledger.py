"""The event store of referrals: the system of record, written by the store writer, read by all.

`record_batch` records a micro-batch of facts from the bus with one tracking row per bus
position, all in one transaction: a batch is recorded whole or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import ApplicationRecorder

from contracts import Fact, fact_from_dict
from referral_loop.store.loading import load_many
from referral_loop.store.recorders import trackings
from referral_loop.store.referral import LifecycleError, Referral, as_stored

UPSTREAM = "nats:REFERRALS"
"""The tracking name of the JetStream stream the facts come from."""


class Outcome(StrEnum):
    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    """Already recorded (a redelivery, or the same fact published again): changes nothing."""
    UNKNOWN_REFERRAL = "unknown_referral"
    """About a referral the store does not have (yet): retry later, then dead-letter."""
    REJECTED = "rejected"
    """Breaks the referral's lifecycle: can never be recorded."""


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    reason: str = ""


@dataclass(frozen=True)
class Positioned:
    position: int
    fact: Fact


class ReferralLedger(Application[UUID]):
    name = "Referrals"

    def construct_recorder(self) -> ApplicationRecorder:
        """A process recorder: it commits tracking positions with the events."""
        return self.factory.process_recorder()

    def record_batch(self, batch: Sequence[Positioned]) -> dict[int, Result]:
        """Record what can be recorded; one transaction for the events and their positions."""
        already = self.recorder.tracked_positions(UPSTREAM, (p.position for p in batch))  # type: ignore[attr-defined]
        touched = self._load({p.fact.referral_id for p in batch if p.position not in already})
        results = {
            p.position: Result(Outcome.DUPLICATE) if p.position in already else self._apply(p.fact, touched)
            for p in batch
        }
        done = [pos for pos, r in results.items() if pos not in already and r.outcome in _TRACKED]
        self.save(*touched.values(), trackings=trackings(UPSTREAM, done))
        return results

    def _load(self, referral_ids: Iterable[UUID]) -> dict[UUID, Referral]:
        """The stored referrals among these ids, read in one query (not one per fact)."""
        return load_many(self, referral_ids)

    def _apply(self, fact: Fact, touched: dict[UUID, Referral]) -> Result:
        referral = touched.get(fact.referral_id)
        if referral is None:
            if fact.type != "ReferralReceived":
                return Result(Outcome.UNKNOWN_REFERRAL, f"no referral {fact.referral_id} in the store yet")
            touched[fact.referral_id] = Referral(fact=as_stored(fact))
            return Result(Outcome.RECORDED)
        if referral.has_recorded(fact):
            return Result(Outcome.DUPLICATE)
        try:
            referral.record(fact)
        except LifecycleError as error:
            return Result(Outcome.REJECTED, str(error))
        return Result(Outcome.RECORDED)

    def _find(self, referral_id: UUID) -> Referral | None:
        try:
            referral: Referral = self.repository.get(referral_id)
            return referral
        except AggregateNotFoundError:
            return None

    def timeline(self, referral_id: UUID) -> list[Fact]:
        """Every fact recorded about a referral, in the order recorded; empty if unknown."""
        return [fact_from_dict(e.fact) for e in self.events.get(referral_id)]  # type: ignore[attr-defined]

    def referral(self, referral_id: UUID) -> Referral | None:
        return self._find(referral_id)


_TRACKED = {Outcome.RECORDED, Outcome.DUPLICATE}
