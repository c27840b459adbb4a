"""The wall clock jumping forwards and backwards while feedback watches report deadlines: each
deadline fires once when its time is reached (only overdue when one jump passes both: 'due soon'
is no news then), never again after a jump back, and a jump back does not hold up sending (retry
waits are measured from now).

In-process on real NATS, store writer, stores and SMTP sink; the fake clock is the one feedback
asks (`services/feedback/clock.py`), moved by the test. Reports are refused (451) until the end,
so they stay pending and their deadlines watched.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import UUID

from launcher.mailsink import MailSink
from referral_loop.settings import Settings
from tests.feedback.harness import Loop, feedback_settings, running_loop
from tests.support import referrals as make
from tests.support.clock import FakeClock
from tests.support.faults import return_visit
from tests.support.servers import NatsServer

START = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
DEADLINES = ("ReportDueSoon", "ReportOverdue")


def deadlines(loop: Loop, rid: UUID) -> list[str]:
    return [t for t in loop.timeline(rid) if t in DEADLINES]


def due_known(loop: Loop, rid: UUID) -> bool:
    case = loop.parts.ledger.case(rid)
    return case is not None and case.due_at is not None


async def jump(loop: Loop, to: datetime) -> None:
    loop.clock.current = to
    await loop.settle()


async def test_deadlines_fire_once_across_clock_jumps_and_a_jump_back_delays_no_send(
    nats_server: NatsServer, store_settings: Settings, tmp_path: Path
) -> None:
    with MailSink(tmp_path / "mail") as sink:
        sink.refuse_with = "451 4.3.0 try later"
        settings = feedback_settings(store_settings, nats_server.url, sink, acknowledge_referrals=False)
        async with running_loop(settings, sink, FakeClock(START)) as loop:
            early, late = make.received().referral_id, make.received().referral_id
            for rid, visit in ((early, date(2026, 11, 25)), (late, date(2026, 11, 27))):
                await loop.publish(make.received(rid), return_visit(rid, visit), make.seen(rid))
            # early: due 11-24 00:00, due soon from 11-23 00:00; late: due 11-26, due soon from 11-25
            await loop.until(lambda: all(due_known(loop, rid) for rid in (early, late)), "the due times")

            await jump(loop, datetime(2026, 11, 24, 6, 0, tzinfo=UTC))  # past both of early's
            await loop.until(lambda: deadlines(loop, early) == ["ReportOverdue"], "overdue alone")
            await jump(loop, datetime(2026, 11, 21, 0, 0, tzinfo=UTC))  # back before all of them
            await jump(loop, datetime(2026, 11, 25, 1, 0, tzinfo=UTC))  # late's due soon
            await loop.until(lambda: deadlines(loop, late) == ["ReportDueSoon"], "late's due soon")
            await jump(loop, datetime(2026, 11, 24, 1, 0, tzinfo=UTC))  # back a day
            sink.refuse_with = None
            loop.clock.advance(timedelta(seconds=61))  # the longest retry wait, not a day
            await loop.until(
                lambda: len(loop.mail("Consult report")) == 2, "both reports, within a retry wait"
            )
            await loop.until(lambda: all("ReportSent" in loop.timeline(r) for r in (early, late)), "sent")
            await jump(loop, datetime(2026, 11, 30, tzinfo=UTC))  # long after: nothing more fires
            assert deadlines(loop, early) == ["ReportOverdue"]
            assert deadlines(loop, late) == ["ReportDueSoon"]
            assert len(loop.mail("Consult report")) == 2
            assert len(loop.mail("Attention")) == 2, "one escalation to ops per deadline reached"
