"""The Referral aggregate's lifecycle: given these facts, when this fact, then recorded or refused."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from contracts import Fact
from contracts.events import Deadline, Delivery, ReportLate, ReportSent
from referral_loop.domain.lifecycle import LifecycleError, Status, status_after
from referral_loop.store.referral import Referral, as_stored
from tests.support import referrals as make


def given(*facts: Fact) -> Referral:
    first, *rest = facts
    referral = Referral(fact=as_stored(first))
    for fact in rest:
        referral.record(fact)
    return referral


def new_events(referral: Referral) -> list[str]:
    return [type(e).__name__ for e in referral.collect_events()]


def test_received_creates_the_referral_under_its_own_id() -> None:
    fact = make.received()
    referral = given(fact)
    assert referral.id == fact.referral_id
    assert referral.status is Status.RECEIVED
    assert new_events(referral) == ["ReferralReceived"]


def test_the_happy_path_closes_the_loop() -> None:
    rid = uuid4()
    referral = given(make.received(rid), make.accepted(rid), make.scheduled(rid), make.seen(rid))
    assert referral.status is Status.SEEN
    assert new_events(referral) == [
        "ReferralReceived",
        "ReferralAccepted",
        "AppointmentScheduled",
        "PatientSeen",
    ]


def test_a_cancelled_referral_cannot_be_seen() -> None:
    rid = uuid4()
    referral = given(make.received(rid), make.cancelled(rid))
    referral.collect_events()
    with pytest.raises(LifecycleError, match="PatientSeen is not allowed on a referral that is cancelled"):
        referral.record(make.seen(rid))
    assert new_events(referral) == []


def test_a_declined_referral_cannot_be_scheduled() -> None:
    rid = uuid4()
    referral = given(make.received(rid), make.declined(rid))
    with pytest.raises(LifecycleError, match="declined"):
        referral.record(make.scheduled(rid))


def test_a_second_received_for_the_same_referral_is_refused() -> None:
    rid = uuid4()
    referral = given(make.received(rid))
    with pytest.raises(LifecycleError, match="ReferralReceived cannot be recorded on an existing referral"):
        referral.record(make.received(rid))


def test_a_recorded_fact_is_recognised_when_it_comes_again() -> None:
    rid = uuid4()
    accept = make.accepted(rid)
    referral = given(make.received(rid), accept)
    assert referral.has_recorded(accept)
    assert not referral.has_recorded(make.accepted(rid))


def test_rescheduling_is_allowed_and_a_no_show_can_be_rebooked() -> None:
    rid = uuid4()
    referral = given(make.received(rid), make.scheduled(rid), make.scheduled(rid))
    assert referral.status is Status.SCHEDULED


def test_the_status_folded_from_a_timeline_matches_the_aggregates() -> None:
    rid = uuid4()
    facts = [make.received(rid), make.accepted(rid), make.scheduled(rid), make.seen(rid)]
    referral = given(*facts)
    assert status_after(f.type for f in facts) is referral.status is Status.SEEN


def test_a_late_report_is_recorded_after_the_report_and_changes_no_status() -> None:
    rid, due = uuid4(), Deadline(due_at=datetime(2026, 11, 4, 15, 0, tzinfo=UTC))
    sent = ReportSent.new(rid, Delivery(message_id="<r@p>", sent_to="reports@harbor.example"), make.STAFF)
    referral = given(make.received(rid), make.seen(rid), sent)
    referral.record(ReportLate.new(rid, due, make.STAFF))
    assert referral.status is Status.CLOSED
    early = given(make.received(rid), make.seen(rid))
    early.record(ReportLate.new(rid, due, make.STAFF))  # it may reach the store before ReportSent
    assert early.status is Status.SEEN
    with pytest.raises(LifecycleError):
        given(make.received(rid)).record(ReportLate.new(rid, due, make.STAFF))
