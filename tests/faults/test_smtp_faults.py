"""SMTP faults under the feedback service (real NATS, store writer, stores and aiosmtpd servers;
a fake clock moved by the test stands in for the retry waits).

- The server closes the connection after DATA, before its reply: the letter may or may not have
  arrived. Feedback retries it; the only duplicates are of letters the server had taken, each at
  most one extra copy under the same Message-ID, and each is recorded as sent once.
- The server is down for a while (stopped, then started again on the same port): retries back off
  (1 s doubling to 60 s), nothing is recorded as sent meanwhile, then every letter goes once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from launcher.mailsink import MailSink
from referral_loop.settings import Settings
from tests.feedback.harness import Loop, running_loop
from tests.support import referrals as make
from tests.support.clock import FakeClock
from tests.support.flaky_smtp import FlakySink
from tests.support.servers import NatsServer

SENT_FACTS = ("AcknowledgementSent", "ReportSent", "ThankYouSent")


def smtp_settings(base: Settings, nats_url: str, port: int) -> Settings:
    update = {"nats_url": nats_url, "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_tls": "none"}
    return base.model_copy(update={**update, "smtp_timeout_s": 5.0})


async def publish_referrals(loop: Loop, count: int) -> list[UUID]:
    rids = [make.received().referral_id for _ in range(count)]
    for rid in rids:
        await loop.publish(make.received(rid), make.seen(rid))
    return rids


async def drive(loop: Loop, done: Callable[[], bool], what: str, step_s: float = 2.0) -> None:
    """Move the fake clock `step_s` every 0.1 s of real time until `done` (60 s at most)."""
    deadline = time.monotonic() + 60
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        loop.clock.advance(timedelta(seconds=step_s))
        await asyncio.sleep(0.1)


def each_announced_once(loop: Loop, rids: list[UUID]) -> bool:
    timelines = [loop.timeline(rid) for rid in rids]
    return all(timeline.count(fact) == 1 for timeline in timelines for fact in SENT_FACTS)


async def test_a_reply_lost_after_data_resends_only_letters_the_server_took_once_more(
    nats_server: NatsServer, store_settings: Settings, tmp_path: Path
) -> None:
    with FlakySink() as flaky:
        settings = smtp_settings(store_settings, nats_server.url, flaky.port)
        async with running_loop(
            settings, MailSink(tmp_path / "unused"), FakeClock(datetime.now(UTC))
        ) as loop:
            rids = await publish_referrals(loop, 6)
            await drive(loop, lambda: each_announced_once(loop, rids), "every send in the timelines")
            await loop.settle()
            cases = [loop.parts.ledger.case(rid) for rid in rids]
    expected = {
        f"<{key}.{rid}@practice.example>"
        for rid in rids
        for key in ("acknowledgement", "report", "thank_you")
    }
    assert set(flaky.copies) == expected, "every letter arrived"
    assert flaky.taken_then_dropped | flaky.dropped_untaken == expected, "each first try lost its reply"
    assert {mid for mid, n in flaky.copies.items() if n == 2} == flaky.taken_then_dropped
    assert max(flaky.copies.values()) == 2
    assert all(
        case is not None and set(case.sent.values()) <= expected and len(case.sent) == 3 for case in cases
    )


async def test_smtp_down_for_a_while_backs_off_records_nothing_then_sends_each_once(
    nats_server: NatsServer, store_settings: Settings, tmp_path: Path
) -> None:
    with MailSink(tmp_path / "mail") as sink:
        sink.stop()  # down: connections refused on its port
        settings = smtp_settings(store_settings, nats_server.url, sink.port)
        async with running_loop(settings, sink, FakeClock(datetime.now(UTC))) as loop:
            rids = await publish_referrals(loop, 5)
            await loop.until(lambda: all(loop.parts.ledger.case(r) for r in rids), "the cases")
            later = loop.clock.now() + timedelta(minutes=4)
            await drive(loop, lambda: loop.clock.now() >= later, "four minutes", step_s=5.0)
            tries = [a.tries for sends in loop.service.outbox.sends.values() for a in sends.values()]
            assert len(tries) == 15 and min(tries) >= 5 and max(tries) <= 10, f"backed off: {tries}"
            assert not any(set(loop.timeline(rid)) & set(SENT_FACTS) for rid in rids)
            assert all(not loop.parts.ledger.case(rid).sent for rid in rids)  # type: ignore[union-attr]
            sink.start()  # back, on the same port
            await drive(loop, lambda: each_announced_once(loop, rids), "every send, once SMTP is back")
            await loop.settle()
            ids = [str(m["Message-ID"]) for m in sink.messages()]
    assert len(ids) == 15 and len(set(ids)) == 15, "every letter exactly once"
