"""kill -9 of the feedback process mid-batch: no report lost; only letters of the batch in flight
(sent, outcome not yet recorded) go again, each once more; nothing recorded as sent goes twice."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from uuid import UUID

from launcher.mailsink import MailSink
from referral_loop.settings import Settings
from services.feedback.bootstrap import open_feedback_ledger
from services.feedback.service import BATCH
from tests.feedback.harness import seen_referrals_on_the_bus
from tests.support.processes import ProcessRegistry, wait_until
from tests.support.servers import NatsServer

REFERRALS = 60
"""120 letters: the kill comes after more than a batch was sent, so after some were recorded."""


def recorded_as_sent(settings: Settings, rids: list[UUID]) -> set[str]:
    """The Message-IDs feedback's store holds as sent (read with the feedback process down)."""
    ledger = open_feedback_ledger(settings)
    try:
        cases = [ledger.case(rid) for rid in rids]
        return {mid for case in cases if case is not None for mid in case.sent.values()}
    finally:
        ledger.close()


async def test_a_killed_sender_loses_no_report_and_resends_only_letters_in_flight(
    nats_server: NatsServer, store_settings: Settings, services: ProcessRegistry, tmp_path: Path
) -> None:
    with MailSink(tmp_path / "mail") as sink:
        sink.data_delay_s = 0.05
        settings, rids = await seen_referrals_on_the_bus(store_settings, nats_server.url, sink, REFERRALS)
        services.start("store-writer", settings)
        feedback = services.start("feedback", settings)
        wait_until(
            lambda: len(sink.files()) > BATCH + 5, timeout=30, what="a batch recorded, the next one going"
        )
        feedback.kill()
        assert len(sink.files()) < 2 * REFERRALS, "everything was sent before the kill: nothing in flight"
        recorded = recorded_as_sent(settings, rids)
        assert recorded, "a batch's outcomes were recorded before the next batch went"

        services.start("feedback", settings)
        expected = 2 * REFERRALS
        wait_until(
            lambda: len({str(m["Message-ID"]) for m in sink.messages()}) == expected,
            timeout=60,
            what="every report and thank-you",
        )
        copies = Counter(str(m["Message-ID"]) for m in sink.messages())
        twice = {mid for mid, n in copies.items() if n > 1}
        assert not twice & recorded, f"recorded as sent, and sent again: {twice & recorded}"
        assert len(twice) <= BATCH and max(copies.values()) <= 2, copies.most_common(3)
