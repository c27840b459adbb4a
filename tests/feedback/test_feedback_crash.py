"""kill -9 of the feedback process mid-batch: no report lost, at most the one caught mid-send twice."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from uuid import uuid4

import nats

from referral_loop.mailsink import MailSink
from referral_loop.settings import Settings
from tests.support import referrals as make
from tests.support.bus import declare_all, publish
from tests.support.processes import ProcessRegistry, wait_until
from tests.support.servers import NatsServer

REFERRALS = 40


async def test_a_killed_sender_loses_no_report_and_duplicates_at_most_the_one_in_flight(
    nats_server: NatsServer, store_settings: Settings, services: ProcessRegistry, tmp_path: Path
) -> None:
    with MailSink(tmp_path / "mail") as sink:
        sink.data_delay_s = 0.02
        update = {"nats_url": nats_server.url, "smtp_host": "127.0.0.1", "smtp_port": sink.port}
        settings = store_settings.model_copy(
            update={**update, "smtp_tls": "none", "acknowledge_referrals": False}
        )
        nc = await nats.connect(nats_server.url)
        await declare_all(nc.jetstream(), settings)
        for _ in range(REFERRALS):
            rid = uuid4()
            await publish(nc.jetstream(), make.received(rid))
            await publish(nc.jetstream(), make.seen(rid))
        await nc.close()
        services.start("store-writer", settings)
        feedback = services.start("feedback", settings)
        wait_until(lambda: len(sink.files()) >= 10, timeout=30, what="sending has started")
        feedback.kill()
        assert len(sink.files()) < 2 * REFERRALS, "everything was sent before the kill: nothing in flight"

        services.start("feedback", settings)
        expected = 2 * REFERRALS
        wait_until(
            lambda: len({str(m["Message-ID"]) for m in sink.messages()}) == expected,
            timeout=60,
            what="every report and thank-you",
        )
        copies = Counter(str(m["Message-ID"]) for m in sink.messages())
        assert sum(copies.values()) - len(copies) <= 1, (
            f"duplicates: {[k for k, n in copies.items() if n > 1]}"
        )
        assert max(copies.values()) <= 2
