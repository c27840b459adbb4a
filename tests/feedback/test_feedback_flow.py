"""The feedback loop on real parts: acknowledgement, report and thank-you, outages, deadlines."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest

from contracts.events import ReturnVisit, ReturnVisitScheduled
from launcher.mailsink import MailSink
from referral_loop.settings import Settings
from tests.feedback.harness import Loop, feedback_settings, running_loop
from tests.support import referrals as make
from tests.support.clock import FakeClock
from tests.support.servers import NatsServer


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[MailSink]:
    with MailSink(tmp_path / "mail") as sink:
        yield sink


@pytest.fixture
async def loop(nats_server: NatsServer, store_settings: Settings, sink: MailSink) -> AsyncIterator[Loop]:
    async with running_loop(feedback_settings(store_settings, nats_server.url, sink), sink) as loop:
        yield loop


def return_visit(rid: object, on: date) -> ReturnVisitScheduled:
    return ReturnVisitScheduled.new(rid, ReturnVisit(return_visit_on=on), make.STAFF)  # type: ignore[arg-type]


async def test_acknowledgement_report_and_thank_you_reach_the_office_and_the_timeline(loop: Loop) -> None:
    rid = uuid4()
    await loop.publish(make.received(rid))
    await loop.until(lambda: len(loop.mail("Referral received")) == 1, "the acknowledgement")
    await loop.publish(return_visit(rid, date.today() + timedelta(days=10)), make.seen(rid))
    await loop.until(lambda: len(loop.sink.messages()) == 3, "report and thank-you")
    wanted = {"AcknowledgementSent", "ReportSent", "ThankYouSent"}
    await loop.until(lambda: wanted <= set(loop.timeline(rid)), "the sends in the referral's timeline")
    (report,) = loop.mail("Consult report")
    assert report["To"] == "reports@harbor.example"
    assert report["Message-ID"] == f"<report.{rid}@practice.example>"
    assert "Lovelace" not in str(report["Subject"])
    body = report.get_body(("plain",))
    assert body is not None and "Start beta blocker." in body.get_content()
    assert loop.timeline(rid).count("ReportSent") == 1


async def test_with_smtp_down_everything_is_sent_once_when_it_is_back(loop: Loop) -> None:
    loop.sink.refuse_with = "421 4.3.2 service not available"
    rids = [uuid4() for _ in range(3)]
    for rid in rids:
        await loop.publish(make.received(rid), make.seen(rid))
    await loop.until(lambda: all(loop.parts.ledger.case(r) for r in rids), "the cases to be opened")
    for _ in range(5):
        loop.clock.advance(timedelta(seconds=61))
        await loop.settle()
    assert loop.sink.messages() == []
    tries = [a.tries for sends in loop.service.outbox.sends.values() for a in sends.values()]
    assert len(tries) == 9 and min(tries) >= 2, f"every send is retried while SMTP refuses it: {tries}"
    loop.sink.refuse_with = None
    loop.clock.advance(timedelta(seconds=61))
    await loop.until(lambda: len(loop.sink.messages()) == 9, "all nine emails")
    ids = [str(m["Message-ID"]) for m in loop.sink.messages()]
    assert len(set(ids)) == 9


async def test_a_permanent_failure_is_recorded_with_its_reason_and_escalated_once(loop: Loop) -> None:
    loop.sink.refuse_recipients["reports@harbor.example"] = "550 5.1.1 mailbox unavailable"
    rid = uuid4()
    await loop.publish(make.received(rid))
    await loop.until(lambda: "FeedbackFailed" in loop.timeline(rid), "the failure in the timeline")
    await loop.until(lambda: len(loop.mail("Attention")) == 1, "the escalation to ops")
    (escalation,) = loop.mail("Attention")
    assert escalation["To"] == "ops@practice.example"
    assert "550" in escalation.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    connections = loop.sink.connections
    loop.clock.advance(timedelta(minutes=10))
    await loop.settle()
    assert loop.sink.connections == connections, "a permanent failure must not be retried"
    assert len(loop.mail("Referral received")) == 0
    case = loop.parts.ledger.case(rid)
    assert case is not None and "550" in case.failed["acknowledgement"]


async def test_the_same_permanent_failure_at_ops_ends_without_a_loop(loop: Loop) -> None:
    loop.sink.refuse_with = "550 5.7.1 relaying denied"
    rid = uuid4()
    await loop.publish(make.received(rid))
    await loop.until(
        lambda: (
            (c := loop.parts.ledger.case(rid)) is not None and "escalation:failed:acknowledgement" in c.failed
        ),
        "the escalation's own failure recorded",
    )
    loop.clock.advance(timedelta(hours=1))
    await loop.settle()
    assert loop.timeline(rid).count("FeedbackFailed") == 1
    assert loop.sink.messages() == []


async def test_with_no_report_address_the_report_fails_at_once_and_ops_hear_of_it(loop: Loop) -> None:
    rid = uuid4()
    clinic = {"name": "Harbor Family Medicine", "phone": "+15550100100"}
    await loop.publish(make.received(rid, referring_clinic=clinic), make.seen(rid))
    await loop.until(lambda: loop.timeline(rid).count("FeedbackFailed") == 3, "three failures recorded")
    await loop.until(lambda: len(loop.mail("Attention")) == 3, "three escalations")


async def test_deadlines_fire_due_soon_then_overdue_once_each_while_smtp_fails(
    nats_server: NatsServer, store_settings: Settings, sink: MailSink
) -> None:
    clock = FakeClock(datetime(2026, 11, 22, 12, 0, tzinfo=UTC))
    settings = feedback_settings(store_settings, nats_server.url, sink, acknowledge_referrals=False)
    sink.refuse_with = "451 4.3.0 try later"
    async with running_loop(settings, sink, clock) as loop:
        rid = uuid4()
        await loop.publish(make.received(rid), return_visit(rid, date(2026, 11, 25)), make.seen(rid))
        await loop.until(lambda: loop.parts.ledger.case(rid) is not None, "the case")
        await loop.until(
            lambda: (c := loop.parts.ledger.case(rid)) is not None and c.due_at is not None, "due"
        )
        assert "ReportDueSoon" not in loop.timeline(rid)
        # due: 2026-11-24 00:00 UTC (the return visit's day minus 24 h); due soon from 2026-11-23 00:00
        clock.advance(timedelta(hours=12, minutes=1))
        await loop.until(lambda: "ReportDueSoon" in loop.timeline(rid), "ReportDueSoon")
        clock.advance(timedelta(hours=1))
        await loop.settle()
        assert "ReportOverdue" not in loop.timeline(rid)
        clock.advance(timedelta(days=1))
        await loop.until(lambda: "ReportOverdue" in loop.timeline(rid), "ReportOverdue")
        clock.advance(timedelta(days=2))
        sink.refuse_with = None
        await loop.until(lambda: len(loop.mail("Consult report")) == 1, "the report, once SMTP is back")
        await loop.until(lambda: len(loop.mail("Attention")) == 2, "the two escalations")
        timeline = loop.timeline(rid)
        assert timeline.count("ReportDueSoon") == 1 and timeline.count("ReportOverdue") == 1


async def test_tls_is_required_so_a_server_without_starttls_gets_nothing_and_the_report_escalates(
    nats_server: NatsServer, store_settings: Settings, sink: MailSink
) -> None:
    clock = FakeClock(datetime(2026, 11, 22, 12, 0, tzinfo=UTC))
    settings = feedback_settings(store_settings, nats_server.url, sink, smtp_tls="starttls")
    async with running_loop(settings, sink, clock) as loop:
        rid = uuid4()
        await loop.publish(make.received(rid), return_visit(rid, date(2026, 11, 25)), make.seen(rid))
        await loop.until(lambda: loop.parts.ledger.case(rid) is not None, "the case")
        tries = loop.sink.connections
        for _ in range(3):
            clock.advance(timedelta(minutes=2))
            await loop.settle()
        assert loop.sink.connections > tries, "the report is retried"
        clock.advance(timedelta(hours=12))
        await loop.until(lambda: "ReportDueSoon" in loop.timeline(rid), "the escalation of the stuck report")
        assert loop.sink.messages() == []


async def test_hostile_text_in_a_referral_adds_no_recipient_or_header_and_is_shown_literally(
    loop: Loop,
) -> None:
    rid = uuid4()
    patient = {**make.referral_body()["patient"], "family_name": "Lovelace\r\nBcc: x@example.org"}
    provider = {"name": "=?UTF-8?Q?=0A?=Bcc: x@example.org <script>alert(1)</script>", "npi": make.VALID_NPI}
    received = make.received_before_the_rules(
        rid, patient=patient, referring_provider=provider, reason="Pain {{ 7*7 }} {% raw %}"
    )
    await loop.publish(received, make.seen(rid))
    await loop.until(lambda: len(loop.sink.messages()) == 3, "three emails")
    for message in loop.sink.messages():
        assert message.get_all("X-Envelope-To") == ["<reports@harbor.example>"]
        assert message["Bcc"] is None and "x@example.org" not in str(message["To"])
        assert "Bcc" not in "".join(f"{k}: {v}" for k, v in message.items() if k != "X-Envelope-To")
    (report,) = loop.mail("Consult report")
    html = report.get_body(("html",)).get_content()  # type: ignore[union-attr]
    text = report.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "Pain {{ 7*7 }}" in text and "Pain 49" not in text


async def test_deadlines_survive_a_restart_of_the_feedback_service(
    nats_server: NatsServer, store_settings: Settings, sink: MailSink
) -> None:
    clock = FakeClock(datetime(2026, 11, 22, 12, 0, tzinfo=UTC))
    settings = feedback_settings(store_settings, nats_server.url, sink, acknowledge_referrals=False)
    sink.refuse_with = "451 4.3.0 try later"
    rid = uuid4()
    async with running_loop(settings, sink, clock) as loop:
        await loop.publish(make.received(rid), return_visit(rid, date(2026, 11, 25)), make.seen(rid))
        await loop.until(
            lambda: (c := loop.parts.ledger.case(rid)) is not None and c.due_at is not None, "due"
        )
    clock.advance(timedelta(days=2))
    async with running_loop(settings, sink, clock) as loop:
        await loop.until(
            lambda: "ReportOverdue" in loop.timeline(rid), "the overdue report after the restart"
        )
        sink.refuse_with = None
        clock.advance(timedelta(minutes=5))
        await loop.until(lambda: len(loop.mail("Consult report")) == 1, "the report once SMTP is back")
        # restarted after the due time: overdue alone, not 'due soon' at the same instant
        assert loop.timeline(rid).count("ReportDueSoon") == 0


async def test_with_no_report_address_the_deadlines_still_fire(
    nats_server: NatsServer, store_settings: Settings, sink: MailSink
) -> None:
    clock = FakeClock(datetime(2026, 11, 22, 12, 0, tzinfo=UTC))
    settings = feedback_settings(store_settings, nats_server.url, sink, acknowledge_referrals=False)
    clinic = {"name": "Harbor Family Medicine", "phone": "+15550100100"}
    rid = uuid4()
    async with running_loop(settings, sink, clock) as loop:
        received = make.received(rid, referring_clinic=clinic, return_visit_on="2026-11-25")
        await loop.publish(received, make.seen(rid))
        await loop.until(lambda: "FeedbackFailed" in loop.timeline(rid), "the failed report")
    clock.advance(timedelta(days=2))
    async with running_loop(settings, sink, clock) as loop:
        await loop.until(lambda: "ReportOverdue" in loop.timeline(rid), "overdue, after a restart")
