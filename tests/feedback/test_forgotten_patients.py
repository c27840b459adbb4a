"""A forgotten patient: feedback's store holds nothing readable of them, and no letter goes about them.

Feedback's cases keep the referral and the consult summary sealed under the patient's data key
(the referral store's); `forget-patient` destroys the key and records PatientForgotten on each of
the patient's referrals. A canary patient goes through the real path; feedback's store (every
byte of its SQLite files, or every row of its PostgreSQL tables) is searched for it, with no
store key at all: sealed from the start, unreadable once forgotten, and its history replays.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from contracts import Fact
from launcher.mailsink import MailSink
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.follower import read_page
from referral_loop.store.ledger import Outcome, Positioned, ReferralLedger
from services.feedback.bootstrap import open_feedback_ledger
from services.feedback.case import FeedbackCase
from services.feedback.ledger import FeedbackLedger
from services.feedback.sealing import open_phi
from tests.feedback.canary import (
    CANARIES,
    canary_received,
    canary_seen,
    found_in_feedback,
    traces_in_feedback,
)
from tests.feedback.harness import Loop, feedback_settings, running_loop
from tests.support import referrals as make
from tests.support.clock import FakeClock
from tests.support.servers import NatsServer


@pytest.fixture
def stores(store_settings: Settings) -> Iterator[tuple[ReferralLedger, FeedbackLedger]]:
    referrals = open_ledger(store_settings)
    feedback = open_feedback_ledger(store_settings, referrals)
    try:
        yield referrals, feedback
    finally:
        feedback.close()
        referrals.close()


def record(stores: tuple[ReferralLedger, FeedbackLedger], *facts: Fact) -> None:
    """Facts through the writer's path into the referral store, then feedback's next page."""
    referrals, feedback = stores
    start = (referrals.recorder.max_notification_id() or 0) + 1
    results = referrals.record_batch([Positioned(start + i, f) for i, f in enumerate(facts)])
    assert {r.outcome for r in results.values()} == {Outcome.RECORDED}
    feedback.process(read_page(referrals, feedback.position(), 100))


def recorded_case(feedback: FeedbackLedger, rid: UUID) -> FeedbackCase:
    case = feedback.case(rid)
    assert case is not None
    return case


def test_the_referral_and_summary_are_sealed_in_feedbacks_store_and_open_with_the_key(
    store_settings: Settings, stores: tuple[ReferralLedger, FeedbackLedger]
) -> None:
    rid = uuid4()
    record(stores, canary_received(rid), canary_seen(rid))
    case = recorded_case(stores[1], rid)
    assert case.patient_key_id is not None and case.pending == {"acknowledgement", "report", "thank_you"}
    assert traces_in_feedback(store_settings) == set(), "the canary in clear in feedback's store"
    office = ["reports@harbor.example"]  # not PHI, kept in clear: the scan reads what is kept
    assert found_in_feedback(store_settings, office) == set(office)
    phi = open_phi(stores[1].patient_keys, [case])[rid]
    assert phi is not None and phi.referral.patient.given_name == CANARIES[0]
    assert phi.summary is not None and phi.summary.findings == CANARIES[3]
    assert phi.referral.referring_clinic.report_email == "reports@harbor.example"


def test_once_forgotten_the_case_is_closed_holds_nothing_readable_and_replays(
    store_settings: Settings, stores: tuple[ReferralLedger, FeedbackLedger]
) -> None:
    rid = uuid4()
    record(stores, canary_received(rid), canary_seen(rid))
    assert stores[0].patient_keys.forget(rid) == [rid]
    record(stores, make.forgotten(rid))
    case = recorded_case(stores[1], rid)
    assert case.forgotten and case.pending == set() and not case.awaiting_report
    assert open_phi(stores[1].patient_keys, [case]) == {rid: None}, "a sealed box still opens"
    assert traces_in_feedback(store_settings) == set()
    replayed = open_feedback_ledger(store_settings)  # nothing cached: the case from its events
    try:
        again = recorded_case(replayed, rid)
        assert again.forgotten and again.pending == set() and again.requested == case.requested
        assert rid not in {c.id for c in replayed.open_cases()}
        topics = [n.topic for n in replayed.recorder.select_notifications(1, 100)]
        assert sum(t.endswith(".Forgotten") for t in topics) == 1
    finally:
        replayed.close()


def test_a_patient_forgotten_before_feedback_caught_up_is_owed_nothing(
    store_settings: Settings, stores: tuple[ReferralLedger, FeedbackLedger]
) -> None:
    rid, referrals = uuid4(), stores[0]
    start = (referrals.recorder.max_notification_id() or 0) + 1
    facts = [canary_received(rid), canary_seen(rid)]
    referrals.record_batch([Positioned(start + i, f) for i, f in enumerate(facts)])
    referrals.patient_keys.forget(rid)  # the key destroyed; PatientForgotten not yet recorded
    stores[1].process(read_page(referrals, stores[1].position(), 100))
    case = recorded_case(stores[1], rid)
    assert case.forgotten and case.requested == set() and case.summary is None
    assert traces_in_feedback(store_settings) == set()


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[MailSink]:
    with MailSink(tmp_path / "mail") as sink:
        yield sink


def tried(loop: Loop, rid: UUID, key: str) -> bool:
    """The send was tried at least once and is waiting to be retried."""
    attempt = loop.service.outbox.sends.get(rid, {}).get(key)
    return attempt is not None and attempt.tries >= 1


def forgotten(loop: Loop, rid: UUID) -> bool:
    case = loop.parts.ledger.case(rid)
    return case is not None and case.forgotten


async def test_no_report_or_thank_you_goes_once_the_patient_is_forgotten(
    nats_server: NatsServer, store_settings: Settings, sink: MailSink
) -> None:
    clock = FakeClock(datetime.now(UTC))
    settings = feedback_settings(store_settings, nats_server.url, sink)
    rid = uuid4()
    async with running_loop(settings, sink, clock) as loop:
        await loop.publish(canary_received(rid))
        await loop.until(lambda: len(loop.mail("Referral received")) == 1, "the acknowledgement")
        sink.refuse_with = "451 4.3.0 try later"
        await loop.publish(canary_seen(rid))
        await loop.until(lambda: tried(loop, rid, "report"), "the report refused, waiting to retry")
        assert traces_in_feedback(settings) == set(), "the canary in clear in feedback's store"
        await asyncio.to_thread(loop.referrals.patient_keys.forget, rid)
        await loop.publish(make.forgotten(rid))
        await loop.until(lambda: forgotten(loop, rid), "the case closed as forgotten")
        sink.refuse_with = None
        for _ in range(3):
            clock.advance(timedelta(seconds=61))
            await loop.settle()
        assert len(sink.messages()) == 1, "a letter went about a forgotten patient"
        assert rid not in loop.service.outbox.sends and rid not in loop.service.outbox.deadlines
        clock.advance(timedelta(days=60))  # past any report deadline: nothing is escalated either
        await loop.settle()
        assert len(sink.messages()) == 1 and "ReportDueSoon" not in loop.timeline(rid)
    assert traces_in_feedback(settings) == set()


async def test_a_key_found_destroyed_while_drafting_closes_the_case_without_a_letter(
    nats_server: NatsServer, store_settings: Settings, sink: MailSink
) -> None:
    clock = FakeClock(datetime.now(UTC))
    settings = feedback_settings(store_settings, nats_server.url, sink, acknowledge_referrals=False)
    sink.refuse_with = "451 4.3.0 try later"
    rid = uuid4()
    async with running_loop(settings, sink, clock) as loop:
        await loop.publish(canary_received(rid), canary_seen(rid))
        await loop.until(lambda: tried(loop, rid, "report"), "the report refused, waiting to retry")
        await asyncio.to_thread(loop.referrals.patient_keys.forget, rid)  # no PatientForgotten yet
        sink.refuse_with = None
        clock.advance(timedelta(seconds=61))
        await loop.until(lambda: forgotten(loop, rid), "the case closed while drafting")
        clock.advance(timedelta(seconds=61))
        await loop.settle()
        assert sink.messages() == [], "a letter went with the patient's key destroyed"
        assert not {"ReportSent", "ThankYouSent", "FeedbackFailed"} & set(loop.timeline(rid))
