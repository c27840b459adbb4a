"""Realistic referral histories for the benchmark: ~300 referring offices over three years.

Each referral lives a lifecycle the store accepts (received, acknowledged, accepted or declined,
booked, a no-show now and then, seen, a return visit, report and thank-you, deadlines when a
report is late, cancellations); `facts(n)` yields exactly n facts in the order the store would
record them (by `recorded_at`), streaming, so a million facts never sit in memory at once.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from bench import practice
from contracts import Actor, ActorKind, Fact
from contracts.events import (
    AcknowledgementSent,
    Appointment,
    AppointmentScheduled,
    Deadline,
    Delivery,
    MissedAppointment,
    PatientNoShow,
    PatientSeen,
    ReferralAccepted,
    ReferralCancelled,
    ReferralDeclined,
    ReferralReceived,
    ReportDueSoon,
    ReportOverdue,
    ReportSent,
    ReturnVisit,
    ReturnVisitScheduled,
    ThankYouSent,
)
from contracts.forgetting import STORED_CONTEXT
from tests.support import referrals as make

START = datetime(2024, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=3 * 365)
FACTS_PER_REFERRAL = 6.5
"""About how many facts a lifecycle has (measured): spreads n facts over the three years."""
FEEDBACK = Actor(kind=ActorKind.SERVICE, name="feedback")
DAY, MINUTE = timedelta(days=1), timedelta(minutes=1)


def uuid(rng: random.Random) -> UUID:
    return UUID(int=rng.getrandbits(128), version=4)


@dataclass
class Life:
    """One referral's facts so far; each is recorded after the one before it."""

    rng: random.Random
    rid: UUID
    office: practice.Office
    facts: list[Fact]
    last: datetime

    def add(self, kind: type[Fact], occurred: datetime, data: Any, actor: Actor = make.STAFF) -> datetime:
        lag = MINUTE * self.rng.randint(1, 90)
        recorded = max(occurred + lag, self.last + timedelta(seconds=1))
        envelope: dict[str, Any] = {
            "event_id": uuid(self.rng),
            "referral_id": self.rid,
            "occurred_at": occurred,
            "recorded_at": recorded,
            "actor": actor,
            "data": data,
        }
        self.facts.append(kind.model_validate(envelope, context=STORED_CONTEXT))  # as a store holds it
        self.last = recorded
        return occurred

    def delivery(self, kind: type[Fact], occurred: datetime) -> None:
        if self.office.report_email:
            sent = Delivery(message_id=f"<{uuid(self.rng)}@bench>", sent_to=self.office.report_email)
            self.add(kind, occurred, sent, FEEDBACK)


def lifecycle(rng: random.Random, office: practice.Office, arrived: datetime) -> list[Fact]:
    """A referral's facts, in recorded order; 2% are keyed in weeks after they happened."""
    late = DAY * rng.randint(5, 40) if rng.random() < 0.02 else timedelta(0)
    life = Life(rng, uuid(rng), office, [], arrived - timedelta(seconds=1))
    received = life.add(ReferralReceived, arrived - late, practice.referral(rng, office))
    life.delivery(AcknowledgementSent, life.last + MINUTE * rng.randint(1, 10))
    roll = rng.random()
    if roll < 0.05:
        life.add(ReferralDeclined, life.last + DAY * rng.uniform(0.5, 3), DECLINE)
    elif roll < 0.08:
        life.add(ReferralCancelled, life.last + DAY * rng.uniform(1, 10), CANCEL)
    else:
        if rng.random() < 0.6:
            life.add(ReferralAccepted, life.last + DAY * rng.uniform(0.2, 2), ACCEPT)
        visit(life, received)
    return life.facts


def visit(life: Life, received: datetime) -> None:
    """Booked, perhaps missed and booked again, seen; then the report, or its deadlines."""
    rng = life.rng
    appointment = book(life, max(life.last, received + DAY * rng.lognormvariate(1.5, 0.6)))
    if rng.random() < 0.08:
        life.add(PatientNoShow, appointment, MissedAppointment(appointment_at=appointment))
        if rng.random() < 0.3:
            life.add(ReferralCancelled, appointment + DAY * rng.uniform(1, 5), CANCEL)
            return
        appointment = book(life, appointment + DAY * rng.uniform(1, 5))
    seen = life.add(PatientSeen, appointment, SUMMARY)
    if rng.random() < 0.25:
        back = (seen + DAY * rng.randint(14, 60)).date()
        life.add(ReturnVisitScheduled, seen + DAY * rng.uniform(0, 2), ReturnVisit(return_visit_on=back))
    report(life, seen)


def book(life: Life, when: datetime) -> datetime:
    appointment = (when + DAY * life.rng.randint(3, 30)).replace(minute=0, second=0, microsecond=0)
    life.add(AppointmentScheduled, when, Appointment(appointment_at=appointment))
    return appointment


def report(life: Life, seen: datetime) -> None:
    rng, due = life.rng, seen + 2 * DAY
    if rng.random() < 0.93 and life.office.report_email:
        sent = seen + DAY * rng.uniform(0.1, 1.9)
        life.delivery(ReportSent, sent)
        life.delivery(ThankYouSent, sent + MINUTE)
        return
    life.add(ReportDueSoon, due - DAY, Deadline(due_at=due), FEEDBACK)
    life.add(ReportOverdue, due, Deadline(due_at=due), FEEDBACK)
    if rng.random() < 0.5:
        life.delivery(ReportSent, due + DAY * rng.uniform(0.5, 10))


def facts(n: int, clinics: int = 300, seed: int = 7) -> Iterator[Fact]:
    """Exactly n facts of referrals arriving over three years, in the store's recorded order."""
    rng = random.Random(seed)
    offices, weights = practice.offices(rng, clinics)
    gap = SPAN / max(1.0, n / FACTS_PER_REFERRAL)
    pending: list[tuple[datetime, int, Fact]] = []
    arrival, order, emitted = START, itertools.count(), 0
    while emitted < n:
        office = rng.choices(offices, cum_weights=weights)[0]
        for fact in lifecycle(rng, office, arrival):
            heapq.heappush(pending, (fact.recorded_at, next(order), fact))
        arrival += gap * rng.expovariate(1.0)
        while pending and pending[0][0] <= arrival and emitted < n:
            yield heapq.heappop(pending)[2]
            emitted += 1


ACCEPT = ReferralAccepted.model_fields["data"].default
CANCEL = ReferralCancelled.model_fields["data"].default
DECLINE = make.declined(UUID(int=0)).data
SUMMARY = make.seen(UUID(int=0)).data
