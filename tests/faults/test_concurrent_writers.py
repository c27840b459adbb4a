"""Two store-writer processes on the one durable consumer, facts about a few referrals all at once.

Both replicas fetch from the same consumer. Were they to record at the same time, a later fact about
a referral could reach the store before an earlier one still in the other's hands (a visit before
its booking: refused by the lifecycle and dead-lettered, so lost). The writers take turns by the
recording lease (services/store_writer/lease.py); concurrent saves of one referral (the same fact
redelivered, or a replica losing its lease) end in a version conflict, which is retried, never
dropped. One replica is stopped mid-stream and started again: the other carries on.
"""

from __future__ import annotations

import signal
from uuid import UUID

import nats

from contracts import Fact
from referral_loop.settings import Settings
from tests.support.bus import dead_letters, declare_all, publish
from tests.support.faults import lifecycle, publish_interleaved, store_counts, timelines, until_recorded
from tests.support.processes import ProcessRegistry
from tests.support.servers import NatsServer

REFERRALS = 30
"""30 lifecycles of 5 facts, each acceptance published twice (a new message id): 180 messages."""


async def test_two_writers_record_every_fact_once_in_lifecycle_order(
    nats_server: NatsServer, store_settings: Settings, services: ProcessRegistry
) -> None:
    settings = store_settings.model_copy(update={"nats_url": nats_server.url, "writer_batch": 7})
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await declare_all(js, settings)
    writers = [services.start("store-writer", settings) for _ in range(2)]
    for writer in writers:
        writer.wait_for_log("store writer recording", timeout=30)

    lifecycles = [lifecycle() for _ in range(REFERRALS)]
    await publish_interleaved(js, lifecycles)
    for facts in lifecycles:
        await publish(js, facts[1], msg_id=f"again-{facts[1].event_id}")
    expected = REFERRALS * 5
    await until_recorded(settings, nc, expected // 3, timeout=60)
    writers[0].stop(signal.SIGTERM)
    await publish_interleaved(js, late := [lifecycle() for _ in range(4)])
    writers[0].start()
    expected += len(late) * 5
    await until_recorded(settings, nc, expected)

    await assert_each_recorded_once_in_order(settings, lifecycles + late)
    assert await dead_letters(nc) == [], "no fact may be lost to the dead letters"
    assert all(writer.running for writer in writers)
    await nc.close()


async def assert_each_recorded_once_in_order(settings: Settings, lifecycles: list[list[Fact]]) -> None:
    counts = store_counts(settings)
    assert set(counts) == {str(f.event_id) for facts in lifecycles for f in facts}
    assert max(counts.values()) == 1, counts.most_common(3)
    recorded: dict[UUID, list[Fact]] = timelines(settings, [facts[0].referral_id for facts in lifecycles])
    for facts in lifecycles:
        assert recorded[facts[0].referral_id] == facts
