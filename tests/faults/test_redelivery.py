"""JetStream redelivery when the ack wait expires: every fact is still recorded exactly once.

The store writer's consumer is declared here with a 1 s ack wait (10 s in production), so that
redelivery comes quickly. The writer keeps one tracking row per stream sequence, in the same
transaction as the facts: a redelivered message is recognised as recorded however late it comes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from contracts import Fact, bus
from referral_loop.messaging.bus import declare_referral_streams, ensure_consumer
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.ledger import Outcome, Result
from services.store_writer.writer import StoreWriter
from tests.support.bus import dead_letters, eventually
from tests.support.faults import lifecycle, publish_interleaved, store_counts, timelines, writer_consumer
from tests.support.servers import NatsServer

ACK_WAIT_S = 1.0
LOST = 12
"""The first deliveries of stream sequences 1..12 have their acks lost."""


@pytest.fixture
async def nc(nats_server: NatsServer, store_settings: Settings) -> AsyncIterator[Client]:
    client = await nats.connect(nats_server.url)
    js = client.jetstream()
    await declare_referral_streams(js, store_settings)
    await ensure_consumer(js, bus.STREAM, replace(bus.store_writer_consumer(), ack_wait=ACK_WAIT_S))
    yield client
    await client.close()


class LosingAcks(StoreWriter):
    """Records as the writer does, but the acks of the first deliveries of the first facts are lost
    (a connection reset between the commit and the ack, say): JetStream delivers those again."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.redelivered: set[int] = set()
        """Stream sequences seen again, and their outcomes then (duplicates, if all is well)."""
        self.outcomes: set[Outcome] = set()

    async def settle(self, msg: Msg, result: Result) -> None:
        if msg.metadata.sequence.stream <= LOST and msg.metadata.num_delivered == 1:
            return
        if msg.metadata.num_delivered > 1:
            self.redelivered.add(msg.metadata.sequence.stream)
            self.outcomes.add(result.outcome)
        await super().settle(msg, result)


async def test_facts_whose_acks_were_lost_are_redelivered_and_change_nothing(
    nc: Client, store_settings: Settings
) -> None:
    js = nc.jetstream()
    lifecycles = [lifecycle() for _ in range(6)]
    writer = LosingAcks(js, await asyncio.to_thread(open_ledger, store_settings), 5, 0.05)
    task = asyncio.create_task(writer.run())
    try:
        await publish_interleaved(js, lifecycles)
        await eventually(lambda: sum(store_counts(store_settings).values()) == 30, 30, "30 facts recorded")
        await wait_for_settled(nc)
    finally:
        writer.stopping.set()
        await asyncio.wait_for(task, 15)
        writer.ledger.close()
    assert writer.redelivered == set(range(1, LOST + 1))
    assert writer.outcomes == {Outcome.DUPLICATE}
    assert_recorded_once_in_order(store_settings, lifecycles)
    assert await dead_letters(nc) == []


async def test_facts_held_by_a_consumer_that_never_acks_reach_the_writer_after_the_ack_wait(
    nc: Client, store_settings: Settings
) -> None:
    js = nc.jetstream()
    lifecycles = [lifecycle()[:2] for _ in range(8)]
    await publish_interleaved(js, [facts[:1] for facts in lifecycles])
    stalled = await js.pull_subscribe_bind(durable=bus.STORE_WRITER, stream=bus.STREAM)
    held = await stalled.fetch(8, timeout=5)
    assert len(held) == 8, "the stalled consumer holds every referral's first fact"
    await publish_interleaved(js, [facts[1:] for facts in lifecycles])
    writer = StoreWriter(js, await asyncio.to_thread(open_ledger, store_settings), 50, 0.05)
    task = asyncio.create_task(writer.run())
    try:
        await eventually(lambda: sum(store_counts(store_settings).values()) == 16, 30, "16 facts recorded")
        await asyncio.gather(*(msg.ack() for msg in held))  # it wakes up, far too late: no matter
        await wait_for_settled(nc)
    finally:
        writer.stopping.set()
        await asyncio.wait_for(task, 15)
        writer.ledger.close()
    assert_recorded_once_in_order(store_settings, lifecycles)
    assert await dead_letters(nc) == []


async def wait_for_settled(nc: Client) -> None:
    """Wait until the consumer has nothing pending or unacknowledged."""
    js = nc.jetstream()
    for _ in range(300):
        info = await writer_consumer(js)
        if info.num_ack_pending == 0 and info.num_pending == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the consumer never settled: {info}")


def assert_recorded_once_in_order(settings: Settings, lifecycles: list[list[Fact]]) -> None:
    counts = store_counts(settings)
    assert len(counts) == sum(len(facts) for facts in lifecycles)
    assert max(counts.values()) == 1, counts.most_common(3)
    recorded = timelines(settings, [facts[0].referral_id for facts in lifecycles])
    for facts in lifecycles:
        assert recorded[facts[0].referral_id] == facts


async def test_a_fact_held_by_a_writer_gone_is_recorded_before_the_facts_after_it(
    nc: Client, store_settings: Settings
) -> None:
    """A writer killed with an acceptance in hand: its successor must not book the referral first
    (booking is allowed on a received referral; the acceptance after it would be refused)."""
    js = nc.jetstream()
    lifecycles = [lifecycle()[:3] for _ in range(6)]  # received, accepted, booked
    await record_with_a_writer(js, store_settings, [facts[:1] for facts in lifecycles], 6)
    await publish_interleaved(js, [facts[1:2] for facts in lifecycles])
    stalled = await js.pull_subscribe_bind(durable=bus.STORE_WRITER, stream=bus.STREAM)
    assert len(await stalled.fetch(6, timeout=5)) == 6, "the writer gone holds every acceptance"
    await publish_interleaved(js, [facts[2:] for facts in lifecycles])
    await record_with_a_writer(js, store_settings, [], 18)
    assert_recorded_once_in_order(store_settings, lifecycles)
    assert await dead_letters(nc) == []


async def record_with_a_writer(js: Any, settings: Settings, lifecycles: list[list[Fact]], total: int) -> None:
    """Publish these facts and run a writer until the store holds `total` facts."""
    await publish_interleaved(js, lifecycles)
    writer = StoreWriter(js, await asyncio.to_thread(open_ledger, settings), 50, 0.05)
    task = asyncio.create_task(writer.run())
    try:
        await eventually(lambda: sum(store_counts(settings).values()) == total, 30, f"{total} facts recorded")
    finally:
        writer.stopping.set()
        await asyncio.wait_for(task, 15)
        writer.ledger.close()
