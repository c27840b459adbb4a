"""Sending at once over several SMTP connections, recording a batch's outcomes together, and
waking the sender as soon as new work is decided (not at the next tick)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from launcher.mailsink import MailSink
from referral_loop.settings import Settings
from services.feedback.case import FeedbackCase
from tests.feedback.harness import Loop, feedback_settings, running_loop
from tests.support import referrals as make
from tests.support.servers import NatsServer

NEVER_S = 3600.0
"""A tick that never comes during a test: whatever is sent was sent because new work woke the sender."""


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[MailSink]:
    with MailSink(tmp_path / "mail") as sink:
        yield sink


def sent_everything(loop: Loop, rids: Sequence[UUID], letters: int) -> Callable[[], bool]:
    def check() -> bool:
        cases = [loop.parts.ledger.case(rid) for rid in rids]
        return all(c is not None and len(c.sent) == letters for c in cases)

    return check


async def test_new_work_is_sent_and_announced_at_once_without_waiting_for_a_tick(
    nats_server: NatsServer, store_settings: Settings, sink: MailSink
) -> None:
    settings = feedback_settings(store_settings, nats_server.url, sink)
    async with running_loop(settings, sink, tick_s=NEVER_S) as loop:
        rid = uuid4()
        await loop.publish(make.received(rid))
        await loop.until(lambda: len(loop.mail("Referral received")) == 1, "the acknowledgement")
        await loop.publish(make.seen(rid))
        await loop.until(lambda: len(loop.mail("Consult report")) == 1, "the report, with no tick")
        wanted = {"AcknowledgementSent", "ReportSent", "ThankYouSent"}
        await loop.until(lambda: wanted <= set(loop.timeline(rid)), "the announcements, with no tick")


async def test_concurrent_sends_deliver_each_letter_exactly_once(
    nats_server: NatsServer, store_settings: Settings, sink: MailSink
) -> None:
    sink.data_delay_s = 0.01  # a slow server: sends overlap on the connections
    settings = feedback_settings(store_settings, nats_server.url, sink, smtp_connections=4)
    rids = [uuid4() for _ in range(20)]
    async with running_loop(settings, sink) as loop:
        for rid in rids:
            await loop.publish(make.received(rid), make.seen(rid))
        await loop.until(sent_everything(loop, rids, 3), "every letter recorded as sent")
        await loop.settle()
        copies = Counter(str(m["Message-ID"]) for m in sink.messages())
        assert len(copies) == 3 * len(rids) and set(copies.values()) == {1}, copies.most_common(3)
        assert 1 < sink.connections <= 4, "the letters went over several connections, at most four"
        assert loop.parts.mailer.connects == sink.connections


async def test_the_outcomes_of_a_batch_are_recorded_together_after_it(
    nats_server: NatsServer, store_settings: Settings, sink: MailSink
) -> None:
    sink.refuse_with = "421 4.3.2 service not available"
    rids = [uuid4() for _ in range(10)]
    async with running_loop(feedback_settings(store_settings, nats_server.url, sink), sink) as loop:
        for rid in rids:
            await loop.publish(make.received(rid), make.seen(rid))
        await loop.until(lambda: _tried_all(loop, 3 * len(rids)), "every send tried and refused")
        recorded: list[int] = []
        change = loop.parts.ledger.change

        def counting(commands: Sequence[tuple[UUID, Callable[[FeedbackCase], object]]]) -> Any:
            recorded.append(len(commands))
            return change(commands)

        loop.parts.ledger.change = counting  # type: ignore[method-assign]
        sink.refuse_with = None
        loop.clock.advance(timedelta(seconds=61))  # all thirty retries fall due at the same moment
        await loop.until(sent_everything(loop, rids, 3), "every letter recorded as sent")
        assert recorded[0] == 3 * len(rids), f"one transaction for the batch's outcomes: {recorded}"
        assert len(sink.messages()) == 3 * len(rids)


def _tried_all(loop: Loop, sends: int) -> bool:
    tries = [a.tries for keys in loop.service.outbox.sends.values() for a in keys.values()]
    return len(tries) == sends and min(tries) >= 1
