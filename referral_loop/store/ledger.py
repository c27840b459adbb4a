"""The event store of referrals: the system of record, written by the store writer, read by all.

`record_batch` records a micro-batch of facts from the bus with one tracking row per bus
position, all in one transaction: a batch is recorded whole or not at all.
"""

from __future__ import annotations

from base64 import b64decode
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.utils import EnvType

from contracts import Fact
from referral_loop.domain.lifecycle import LifecycleError
from referral_loop.store.loading import load_many
from referral_loop.store.opening import open_facts
from referral_loop.store.patient_keys import PatientKeys, Writing
from referral_loop.store.patient_phi import DataKey, has_phi, seal
from referral_loop.store.recorders import trackings
from referral_loop.store.referral import Referral, as_stored

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

    def __init__(self, env: EnvType | None = None) -> None:
        super().__init__(env=env)
        postgres = "postgres" in (self.env.get("PERSISTENCE_MODULE") or "")
        store_key = self.env.get("CIPHER_KEY")
        self.patient_keys = PatientKeys(
            self.recorder.datastore,  # type: ignore[attr-defined]
            postgres,
            b64decode(store_key) if store_key else None,
        )

    def record_batch(self, batch: Sequence[Positioned]) -> dict[int, Result]:
        """Record what can be recorded; one transaction for the events and their positions."""
        already = self.recorder.tracked_positions(UPSTREAM, (p.position for p in batch))  # type: ignore[attr-defined]
        fresh = [p.fact for p in batch if p.position not in already]
        if any(fact.type == "PatientForgotten" for fact in fresh):
            self.patient_keys.forget_cached()  # the key destroyed must not outlive it here
        touched = self._load({fact.referral_id for fact in fresh})
        keys, write_keys = self._data_keys(fresh, touched)
        results = {
            p.position: Result(Outcome.DUPLICATE)
            if p.position in already
            else self._apply(p.fact, touched, keys)
            for p in batch
        }
        done = [pos for pos, r in results.items() if pos not in already and r.outcome in _TRACKED]
        self.save(*touched.values(), trackings=trackings(UPSTREAM, done), also=write_keys)
        return results

    def _load(self, referral_ids: Iterable[UUID]) -> dict[UUID, Referral]:
        """The stored referrals among these ids, read in one query (not one per fact)."""
        return load_many(self, referral_ids)

    def _data_keys(
        self, facts: list[Fact], touched: dict[UUID, Referral]
    ) -> tuple[dict[UUID, DataKey], Writing]:
        """The patient's data key of each referral whose facts here have PHI to seal: found or
        made for new referrals' patients (made ones are written with the facts: `also=`),
        opened for known ones (a query each way, for the whole batch)."""
        new = {
            f.referral_id: self._identity(f)
            for f in facts
            if f.referral_id not in touched and _is_received(f)
        }
        keys, write = self.patient_keys.keys_for_new(new)
        known = {
            f.referral_id: key_id
            for f in facts
            if has_phi(f.type)
            and f.referral_id in touched
            and (key_id := touched[f.referral_id].patient_key_id)
        }
        opened = self.patient_keys.keys(known.values()) if known else {}
        return keys | {referral: DataKey(key_id, opened[key_id]) for referral, key_id in known.items()}, write

    def _identity(self, fact: Fact) -> str:
        patient = fact.data.patient
        return self.patient_keys.identity(
            patient.given_name, patient.family_name, patient.birth_date.isoformat()
        )

    def _apply(self, fact: Fact, touched: dict[UUID, Referral], keys: dict[UUID, DataKey]) -> Result:
        referral, stored = touched.get(fact.referral_id), sealed_fact(fact, keys.get(fact.referral_id))
        if referral is None:
            if fact.type != "ReferralReceived":
                return Result(Outcome.UNKNOWN_REFERRAL, f"no referral {fact.referral_id} in the store yet")
            touched[fact.referral_id] = Referral(fact=stored)
            return Result(Outcome.RECORDED)
        if referral.has_recorded(fact):
            return Result(Outcome.DUPLICATE)
        try:
            referral.record(fact, stored)
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
        """Every fact recorded about a referral, in the order recorded (PHI opened, or
        placeholders once the patient was forgotten); empty if unknown."""
        stored = [e.fact for e in self.events.get(referral_id)]  # type: ignore[attr-defined]
        if any(f["type"] == "PatientForgotten" for f in stored):
            self.patient_keys.forget_cached()  # no key of a forgotten patient outlives it here
        return [fact for fact, _ in open_facts(self.patient_keys, stored)]

    def referral(self, referral_id: UUID) -> Referral | None:
        return self._find(referral_id)


_TRACKED = {Outcome.RECORDED, Outcome.DUPLICATE}


def _is_received(fact: Fact) -> bool:
    return fact.type == "ReferralReceived"


def sealed_fact(fact: Fact, key: DataKey | None) -> dict[str, Any]:
    """The fact as the store keeps it: its PHI sealed under its patient's key, when it has some
    and its referral has a key (referrals recorded before keys existed keep theirs as they are)."""
    stored = as_stored(fact)
    if key is None or not has_phi(fact.type):
        return stored
    return {**stored, "data": seal(fact.type, stored["data"], key, stored["event_id"])}
