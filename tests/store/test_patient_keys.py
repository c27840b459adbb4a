"""Crypto-shredding in the store: PHI sealed under a key per patient; forgetting destroys the key.

Given facts recorded, when a patient is forgotten, then their facts read with placeholders, the
rest of each fact (what the read models count) stays, other patients are untouched, and the
history still replays; on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest

from contracts import Fact
from contracts.events import PatientSeen, ReferralReceived
from contracts.forgetting import FORGOTTEN, FORGOTTEN_BIRTH_DATE
from referral_loop.settings import Settings
from referral_loop.store import recorders
from referral_loop.store.config import open_ledger
from referral_loop.store.follower import Recorded, read_page
from referral_loop.store.ledger import Outcome, Positioned, ReferralLedger
from referral_loop.store.recorders import also
from tests.support import referrals as make

CANARY = {"given_name": "Zebedee", "family_name": "Quillfeather", "birth_date": "1961-07-19"}


@pytest.fixture
def ledger(store_settings: Settings) -> Iterator[ReferralLedger]:
    opened = open_ledger(store_settings)
    yield opened
    opened.close()


def record(ledger: ReferralLedger, *facts: Fact) -> None:
    start = 1 + (ledger.recorder.max_notification_id() or 0)
    results = ledger.record_batch([Positioned(start + i, f) for i, f in enumerate(facts)])
    assert {r.outcome for r in results.values()} == {Outcome.RECORDED}


def received(referral_id: UUID, patient: dict[str, str] = CANARY) -> ReferralReceived:
    return make.received(referral_id, patient={**patient, "mrn": "MRN-77", "phone": "+15550100177"})


def page(ledger: ReferralLedger) -> dict[tuple[UUID, str], Recorded]:
    return {(r.fact.referral_id, r.fact.type): r for r in read_page(ledger, 0, 1000)}


def test_phi_is_sealed_in_the_stored_fact_and_opened_whole(ledger: ReferralLedger) -> None:
    first = received(uuid4())
    record(ledger, first, make.seen(first.referral_id))
    states = b"".join(s.state for s in ledger.recorder.select_notifications(1, 10))
    for value in ("Zebedee", "Quillfeather", "1961-07-19", "MRN-77", "Exertional chest pain", "Normal echo"):
        assert value.encode() not in states, f"{value} is readable in the stored events"
    assert b"Harbor Family Medicine" in states and b"R07.9" in states  # what is counted stays readable
    assert next(r.fact for r in read_page(ledger, 0, 10)) == first


def test_a_patients_referrals_share_one_key_and_another_patient_has_another(ledger: ReferralLedger) -> None:
    a, b, other = uuid4(), uuid4(), uuid4()
    record(ledger, received(a), received(b), received(other, {**CANARY, "given_name": "Other"}))
    keys = {rid: r.patient_key_id for (rid, _), r in page(ledger).items()}
    assert keys[a] is not None and keys[a] == keys[b] != keys[other]


def test_forgetting_a_patient_erases_their_phi_in_every_referral_and_keeps_the_rest(
    ledger: ReferralLedger,
) -> None:
    a, b, other = uuid4(), uuid4(), uuid4()
    record(ledger, received(a), received(b), received(other, {**CANARY, "given_name": "Other"}), make.seen(a))
    assert sorted(ledger.patient_keys.forget(b)) == sorted([a, b])
    facts = page(ledger)
    for referral_id in (a, b):
        data = facts[referral_id, "ReferralReceived"].fact.data
        assert (data.patient.given_name, data.patient.family_name) == (FORGOTTEN, FORGOTTEN)
        assert data.patient.birth_date == FORGOTTEN_BIRTH_DATE and data.patient.mrn == FORGOTTEN
        assert data.patient.phone is None and data.reason == FORGOTTEN
        assert data.referring_clinic.name == "Harbor Family Medicine" and data.diagnosis_codes == [
            "R07.9",
            "I10",
        ]
    seen = facts[a, "PatientSeen"].fact
    assert isinstance(seen, PatientSeen) and seen.data.findings == FORGOTTEN
    assert seen.data.specialist == "Dr. Ada Byron"
    assert facts[other, "ReferralReceived"].fact.data.patient.given_name == "Other"
    assert [f.type for f in ledger.timeline(a)] == ["ReferralReceived", "PatientSeen"]
    assert ledger.timeline(a)[0].data.patient.given_name == FORGOTTEN


def test_facts_recorded_after_forgetting_keep_no_phi(ledger: ReferralLedger) -> None:
    a = uuid4()
    record(ledger, received(a))
    ledger.patient_keys.forget(a)
    record(ledger, make.seen(a), make.forgotten(a))
    states = b"".join(s.state for s in ledger.recorder.select_notifications(1, 10))
    assert b"Normal echo" not in states
    assert page(ledger)[a, "PatientSeen"].fact.data.findings == FORGOTTEN


def test_the_same_patient_referred_again_after_forgetting_gets_a_new_key(ledger: ReferralLedger) -> None:
    first, again = uuid4(), uuid4()
    record(ledger, received(first))
    ledger.patient_keys.forget(first)
    record(ledger, received(again))
    facts = page(ledger)
    assert facts[again, "ReferralReceived"].fact.data.patient.given_name == "Zebedee"
    assert facts[again, "ReferralReceived"].patient_key_id != facts[first, "ReferralReceived"].patient_key_id
    assert ledger.patient_keys.forget(again) == [again]


def test_a_reader_with_the_key_cached_drops_it_when_the_forgetting_is_recorded(
    ledger: ReferralLedger, store_settings: Settings
) -> None:
    a = uuid4()
    record(ledger, received(a))
    reader = open_ledger(store_settings)
    try:
        assert page(reader)[a, "ReferralReceived"].fact.data.patient.given_name == "Zebedee"  # key now cached
        ledger.patient_keys.forget(a)
        record(ledger, make.forgotten(a))
        assert page(reader)[a, "ReferralReceived"].fact.data.patient.given_name == FORGOTTEN
    finally:
        reader.close()


def test_forgetting_an_unknown_referral_forgets_nobody(ledger: ReferralLedger) -> None:
    a = uuid4()
    record(ledger, received(a))
    assert ledger.patient_keys.forget(uuid4()) == []
    assert page(ledger)[a, "ReferralReceived"].fact.data.patient.given_name == "Zebedee"


def test_a_patients_key_is_written_in_the_transaction_of_their_facts_or_not_at_all(
    ledger: ReferralLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = uuid4()

    def fails_after_the_keys(cursor: object, **kwargs: object) -> None:
        also(cursor, **kwargs)  # the keys are written, then the events' insert fails
        raise RuntimeError("the disk is gone")

    with monkeypatch.context() as patched:
        patched.setattr(recorders, "also", fails_after_the_keys)
        with pytest.raises(RuntimeError):
            record(ledger, received(a))
    assert ledger.patient_keys.forget(a) == [], "a key was written without its facts"
    record(ledger, received(a))
    assert page(ledger)[a, "ReferralReceived"].fact.data.patient.given_name == "Zebedee"


def test_a_live_key_never_reads_destroyed_when_another_thread_drops_the_cache_meanwhile(
    ledger: ReferralLedger,
) -> None:
    a = uuid4()
    record(ledger, received(a))
    key_id = page(ledger)[a, "ReferralReceived"].patient_key_id
    assert key_id is not None

    class DroppedRightAfterFilling(dict[str, bytes | None]):
        """A cache another thread empties the moment it was filled (a PatientForgotten page)."""

        def update(self, *args: Any, **kwargs: Any) -> None:
            super().update(*args, **kwargs)
            self.clear()

    ledger.patient_keys._cache = DroppedRightAfterFilling()
    assert ledger.patient_keys.keys({key_id})[key_id] is not None


def test_the_writer_drops_a_forgotten_patients_key_it_had_cached_when_it_records_the_forgetting(
    ledger: ReferralLedger, store_settings: Settings
) -> None:
    a = uuid4()
    record(ledger, received(a))
    record(ledger, make.accepted(a))  # a later batch: the writer read the patient's key and holds it
    operator = open_ledger(store_settings)  # forget-patient runs in a process of its own
    try:
        operator.patient_keys.forget(a)
    finally:
        operator.close()
    record(ledger, make.forgotten(a), make.seen(a))
    seen = ledger.recorder.select_notifications(1, 10)[-1]
    assert seen.topic.endswith("PatientSeen")
    sealed = json.loads(ledger.mapper.cipher.decrypt(seen.state) if ledger.mapper.cipher else seen.state)
    assert sealed["fact"]["data"]["sealed"]["box"] is None, "sealed under the destroyed key, not dropped"
    assert page(ledger)[a, "PatientSeen"].fact.data.findings == FORGOTTEN
