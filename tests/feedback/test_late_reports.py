"""Replaying visits long past (issue 14, finding 12): each report goes out, recorded late, and ops
are never sent 'due soon' and 'overdue' at the same instant, nor an escalation after the report.

On real parts (nats-server, the store writer, an SMTP sink); the fake clock stands at now, the
visits two months back, so every report is past its due time when feedback first hears of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from contracts import Fact
from launcher.mailsink import MailSink
from referral_loop.settings import Settings
from tests.feedback.harness import Loop, feedback_settings, running_loop
from tests.support import referrals as make
from tests.support.clock import FakeClock
from tests.support.servers import NatsServer

DEADLINES = ("ReportDueSoon", "ReportOverdue")


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[MailSink]:
    with MailSink(tmp_path / "mail") as sink:
        yield sink


async def publish_seen_long_ago(loop: Loop, rids: list[UUID], now: datetime) -> None:
    """Referrals seen two months before `now`; every other one with a return visit since."""
    for i, rid in enumerate(rids):
        visit = now - timedelta(days=60, hours=i)
        back = (visit + timedelta(days=20)).date().isoformat() if i % 2 else None
        seen = make.seen(rid).model_copy(update={"occurred_at": visit})
        await loop.publish(make.received(rid, return_visit_on=back), seen)


def check_escalations(facts: list[Fact]) -> list[str]:
    """The deadlines recorded; none at the instant of another, none after the report went out."""
    deadlines = [f for f in facts if f.type in DEADLINES]
    assert len({f.occurred_at for f in deadlines}) == len(deadlines), "two deadlines at one instant"
    sent = [i for i, f in enumerate(facts) if f.type == "ReportSent"]
    assert all(facts.index(f) < sent[0] for f in deadlines) if sent else True, "escalated after"
    return [f.type for f in deadlines]


def late_fact(loop: Loop, rid: UUID) -> Fact:
    """ReportLate, at the instant the report was sent, naming the due time the case holds."""
    facts = loop.referrals.timeline(rid)
    (sent,) = (f for f in facts if f.type == "ReportSent")
    (late,) = (f for f in facts if f.type == "ReportLate")
    case = loop.parts.ledger.case(rid)
    assert case is not None and late.data.due_at == case.due()
    assert late.occurred_at == sent.occurred_at > late.data.due_at
    return late


async def test_replayed_visits_long_past_get_their_reports_recorded_late_and_no_escalation(
    nats_server: NatsServer, store_settings: Settings, sink: MailSink
) -> None:
    n, now = 120, datetime.now(UTC)
    settings = feedback_settings(store_settings, nats_server.url, sink, acknowledge_referrals=False)
    rids = [uuid4() for _ in range(n)]
    async with running_loop(settings, sink, FakeClock(now)) as loop:
        await publish_seen_long_ago(loop, rids, now)
        await loop.until(lambda: len(loop.mail("Consult report")) == n, "every report", timeout=60)
        recorded = lambda: all("ReportLate" in loop.timeline(rid) for rid in rids)  # noqa: E731
        await loop.until(recorded, "every report recorded late", timeout=60)
        await loop.settle()
        escalated = {rid: check_escalations(loop.referrals.timeline(rid)) for rid in rids}
        assert {rid: names for rid, names in escalated.items() if names} == {}
        for rid in rids:
            late_fact(loop, rid)
        assert loop.mail("Attention") == []


async def test_a_late_report_whose_first_try_fails_is_escalated_once_as_overdue_then_goes(
    nats_server: NatsServer, store_settings: Settings, sink: MailSink
) -> None:
    now = datetime.now(UTC) - timedelta(minutes=1)
    settings = feedback_settings(store_settings, nats_server.url, sink, acknowledge_referrals=False)
    sink.refuse_with = "451 4.3.0 try later"
    rids = [uuid4() for _ in range(3)]
    async with running_loop(settings, sink, FakeClock(now)) as loop:
        await publish_seen_long_ago(loop, rids, now)
        overdue = lambda: all("ReportOverdue" in loop.timeline(rid) for rid in rids)  # noqa: E731
        await loop.until(overdue, "overdue, once the first try failed")
        sink.refuse_with = None
        loop.clock.advance(timedelta(seconds=5))  # past the first retry's wait
        await loop.until(lambda: len(loop.mail("Consult report")) == 3, "the reports once SMTP is back")
        await loop.until(lambda: len(loop.mail("Attention")) == 3, "one escalation each")
        await loop.until(lambda: all("ReportLate" in loop.timeline(r) for r in rids), "recorded late")
        await loop.settle()
        for rid in rids:
            assert check_escalations(loop.referrals.timeline(rid)) == ["ReportOverdue"]
            late_fact(loop, rid)
        assert len(loop.mail("Attention")) == 3
