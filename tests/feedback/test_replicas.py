"""Two feedback replicas: one sends, the other stands by; kill -9 the sender and the other takes
over: every report goes, and only letters of the batch in flight at the kill go twice."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from launcher.mailsink import MailSink
from referral_loop.settings import Settings
from services.feedback.service import BATCH
from tests.feedback.harness import seen_referrals_on_the_bus
from tests.ops.support import metric
from tests.support.processes import ProcessRegistry, ServiceProcess, free_port, wait_until
from tests.support.servers import NatsServer

REFERRALS = 60


def leader(replicas: dict[int, ServiceProcess]) -> tuple[int, ServiceProcess]:
    found = {}
    wait_until(
        lambda: (
            found.update({p: r for p, r in replicas.items() if metric(p, "referral_loop_leading") == 1.0})
            or len(found) == 1
        ),
        timeout=30,
        what="one replica leading",
    )
    ((port, replica),) = found.items()
    return port, replica


async def test_a_standby_replica_takes_over_from_a_killed_sender(
    nats_server: NatsServer, store_settings: Settings, services: ProcessRegistry, tmp_path: Path
) -> None:
    with MailSink(tmp_path / "mail") as sink:
        sink.data_delay_s = 0.05
        settings, _ = await seen_referrals_on_the_bus(store_settings, nats_server.url, sink, REFERRALS)
        services.start("store-writer", settings)
        ports = [free_port(), free_port()]
        replicas = {
            p: services.start("feedback", settings.model_copy(update={"feedback_ops_port": p})) for p in ports
        }
        port, first = leader(replicas)
        standby = next(p for p in ports if p != port)
        wait_until(
            lambda: metric(standby, "referral_loop_leading") == 0.0, timeout=30, what="the other on standby"
        )
        wait_until(lambda: len(sink.files()) > BATCH + 5, timeout=30, what="a batch sent, the next going")
        assert not [n for n in Counter(str(m["Message-ID"]) for m in sink.messages()).values() if n > 1], (
            "two replicas sent the same letter while both ran"
        )
        first.kill()
        wait_until(
            lambda: metric(standby, "referral_loop_leading") == 1.0, timeout=30, what="the standby leads"
        )
        wait_until(
            lambda: len({str(m["Message-ID"]) for m in sink.messages()}) == 2 * REFERRALS,
            timeout=60,
            what="every report and thank-you",
        )
        copies = Counter(str(m["Message-ID"]) for m in sink.messages())
        assert sum(n > 1 for n in copies.values()) <= BATCH and max(copies.values()) <= 2
