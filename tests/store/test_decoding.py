"""Facts read from the store straight from their stored JSON are exactly those contracts would give
from the rebuilt domain events, for every fact type, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import uuid4

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import JSONTranscoder, Mapper
from eventsourcing.utils import get_topic
from pydantic import ValidationError

from contracts import FACT_TYPES, Fact
from contracts.events import (
    AcknowledgementSent,
    AppointmentCancelled,
    Deadline,
    Delivery,
    DeliveryFailed,
    FeedbackFailed,
    FeedbackKind,
    MissedAppointment,
    OptionalReason,
    PatientNoShow,
    ReportDueSoon,
    ReportLate,
    ReportOverdue,
    ReportSent,
    ReturnVisit,
    ReturnVisitScheduled,
    ThankYouSent,
)
from referral_loop.settings import Settings
from referral_loop.store.config import ledger_env, open_ledger
from referral_loop.store.decoding import direct, general, stored_fact
from referral_loop.store.follower import read_page
from referral_loop.store.ledger import Outcome, Positioned, ReferralLedger
from referral_loop.store.opening import open_facts
from tests.support import referrals as make

DUE = Deadline(due_at=datetime(2026, 12, 3, 9, 0, tzinfo=UTC))
SENT = Delivery(message_id="<m@practice.example>", sent_to="reports@harbor.example")


def every_fact_type() -> list[Fact]:
    """Three referrals whose facts, recorded in this order, are all accepted and cover every type."""
    a, b, c = uuid4(), uuid4(), uuid4()
    return [
        make.received(a),
        AcknowledgementSent.new(a, SENT, make.STAFF),
        make.accepted(a),
        make.scheduled(a),
        AppointmentCancelled.new(a, OptionalReason(reason="Moved."), make.STAFF),
        make.scheduled(a),
        PatientNoShow.new(a, MissedAppointment(), make.STAFF),
        make.scheduled(a),
        make.seen(a),
        ReturnVisitScheduled.new(a, ReturnVisit(return_visit_on=date(2026, 12, 20)), make.STAFF),
        ReportDueSoon.new(a, DUE, make.STAFF),
        ReportOverdue.new(a, DUE, make.STAFF),
        ReportSent.new(a, SENT, make.STAFF),
        ReportLate.new(a, DUE, make.STAFF),
        ThankYouSent.new(a, SENT, make.STAFF),
        FeedbackFailed.new(a, DeliveryFailed(kind=FeedbackKind.REPORT, reason="550"), make.STAFF),
        make.received(b, referring_clinic={"name": "No Email Clinic"}, patient=PATIENT_WITHOUT_EXTRAS),
        make.declined(b),
        make.received(c),
        make.cancelled(c),
        make.forgotten(c),
    ]


PATIENT_WITHOUT_EXTRAS = {"given_name": "Bo", "family_name": "Ng", "birth_date": "1990-01-01"}


def record(ledger: ReferralLedger, facts: list[Fact]) -> None:
    results = ledger.record_batch([Positioned(i + 1, f) for i, f in enumerate(facts)])
    assert {r.outcome for r in results.values()} == {Outcome.RECORDED}


@pytest.fixture
def recorded(store_settings: Settings) -> Iterator[tuple[ReferralLedger, list[Fact]]]:
    ledger, facts = open_ledger(store_settings), every_fact_type()
    record(ledger, facts)
    yield ledger, facts
    ledger.close()


def test_the_facts_cover_every_type() -> None:
    assert {f.type for f in every_fact_type()} == set(FACT_TYPES)


def test_direct_decoding_gives_exactly_what_contracts_give(
    recorded: tuple[ReferralLedger, list[Fact]],
) -> None:
    ledger, facts = recorded
    stored = ledger.recorder.select_notifications(1, limit=100)
    assert all(direct(ledger.mapper, s.topic) for s in stored)
    fast, slow = [stored_fact(ledger.mapper, s) for s in stored], [general(ledger.mapper, s) for s in stored]
    assert fast == slow
    opened = [fact for fact, _ in open_facts(ledger.patient_keys, fast)]
    assert opened == facts
    assert [type(f) for f in opened] == [type(f) for f in facts]
    assert [r.fact for r in read_page(ledger, 0, 100)] == facts


def test_a_stored_fact_that_breaks_its_contract_is_refused(
    recorded: tuple[ReferralLedger, list[Fact]],
) -> None:
    ledger, _ = recorded
    first = ledger.recorder.select_notifications(1, limit=1)[0]
    broken = replace(first, state=first.state.replace(b'"npi":"1234567893"', b'"npi":"1234567890"'))
    assert broken.state != first.state
    for decode in (stored_fact, general):
        with pytest.raises(ValidationError, match="check digit"):
            open_facts(ledger.patient_keys, [decode(ledger.mapper, broken)])


def test_compressed_events_are_decompressed_first(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    env = {**ledger_env(settings), "REFERRALS_COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor"}
    ledger, facts = ReferralLedger(env=env), every_fact_type()
    record(ledger, facts)
    assert ledger.mapper.compressor is not None
    assert [r.fact for r in read_page(ledger, 0, 100)] == facts
    ledger.close()


class Upcast(Aggregate):
    class Changed(Aggregate.Event):
        class_version = 2


class OtherTranscoder(JSONTranscoder):
    pass


def test_events_to_upcast_or_other_transcoders_take_the_general_path() -> None:
    plain = Mapper(transcoder=JSONTranscoder())
    assert not direct(plain, get_topic(Upcast.Changed))
    assert direct(plain, get_topic(Upcast.Created))
    assert not direct(Mapper(transcoder=OtherTranscoder()), get_topic(Upcast.Created))


def test_a_page_of_some_types_skips_the_others_and_keeps_positions(
    recorded: tuple[ReferralLedger, list[Fact]],
) -> None:
    ledger, facts = recorded
    wanted = {"ReferralReceived", "PatientSeen"}
    page = read_page(ledger, 0, 100, types=wanted)
    expected = [(i + 1, f) for i, f in enumerate(facts) if f.type in wanted]
    assert [(r.position, r.fact) for r in page] == expected
    assert [r.position for r in read_page(ledger, 0, 100, types=wanted, through=9)] == [1, 9]
    assert [r.position for r in read_page(ledger, 1, 100, types=wanted, through=8)] == []
