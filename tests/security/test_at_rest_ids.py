"""Attack: what stays readable under the store key (ids and event type names) holds no PHI.

AES-GCM encrypts each event's state; the aggregate ids, versions and topics (event type names)
are stored as they are. A referral whose patient details are a canary goes through the writer's
path and feedback; every id and topic of both stores is then checked: referral ids are random
UUIDs, feedback's cases use the referral id, its office tallies a UUID derived from the
referring office's report address (an office, not a patient), and topics are fixed class names.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4, uuid5

from contracts import FACT_TYPES
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.follower import read_page
from referral_loop.store.ledger import Positioned
from referral_loop.store.referral import Referral
from services.feedback.bootstrap import open_feedback_ledger
from services.feedback.case import OFFICES, FeedbackCase, OfficeTally
from tests.support import referrals as make

CANARY = f"Qzv{uuid4().hex[:8]}"


def ids_and_topics(app: Any) -> list[tuple[UUID, str]]:
    notes = app.recorder.select_notifications(1, limit=1000)
    return [(n.originator_id, n.topic) for n in notes]


def test_no_phi_in_aggregate_ids_or_event_type_names(store_settings: Settings) -> None:
    rid = uuid4()
    patient = {"given_name": CANARY, "family_name": CANARY, "birth_date": date(1944, 2, 3), "mrn": CANARY}
    facts = [make.received(rid, patient=patient, reason=CANARY), make.accepted(rid), make.seen(rid)]
    ledger, feedback = open_ledger(store_settings), open_feedback_ledger(store_settings)
    try:
        ledger.record_batch([Positioned(i + 1, f) for i, f in enumerate(facts)])
        feedback.process(read_page(ledger, 0, 10))
        referrals, decisions = ids_and_topics(ledger), ids_and_topics(feedback)
    finally:
        feedback.close()
        ledger.close()
    readable = [str(i) + t for i, t in referrals + decisions]
    assert not [r for r in readable if CANARY in r or "1944-02-03" in r]
    assert {i for i, _ in referrals} == {rid} and rid.version == 4
    prefix = f"{Referral.__module__}:{Referral.__qualname__}."
    assert {t.removeprefix(prefix) for _, t in referrals} <= set(FACT_TYPES)
    office = uuid5(OFFICES, "reports@harbor.example")
    assert {i for i, _ in decisions} == {rid, office}
    names = {f"{c.__module__}:{c.__qualname__}.{n}" for c in (FeedbackCase, OfficeTally) for n in vars(c)}
    assert {t for _, t in decisions} <= names
