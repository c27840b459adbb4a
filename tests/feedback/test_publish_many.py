"""FactPublisher.publish_many on a real nats-server: one result per fact, in order; JetStream's
duplicate window by Nats-Msg-Id; a fact JetStream refuses fails alone; no connection, no stream."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from uuid import uuid4

import nats
import pytest
from nats.aio.client import Client
from nats.js.api import PubAck

from contracts import Fact, bus
from referral_loop.messaging.bus import declare_referral_streams
from referral_loop.messaging.publisher import BusUnavailable, FactPublisher
from referral_loop.settings import Settings
from tests.support import referrals as make
from tests.support.servers import NatsServer


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[Client]:
    client = await nats.connect(nats_server.url)
    yield client
    await client.close()


def facts(count: int) -> list[Fact]:
    return [make.seen(uuid4()) for _ in range(count)]


async def stored(nc: Client) -> int:
    return (await nc.jetstream().stream_info(bus.STREAM)).state.messages


async def test_each_fact_is_acknowledged_once_and_a_republish_is_a_duplicate(nc: Client) -> None:
    await declare_referral_streams(nc.jetstream(), Settings())
    batch = facts(20)
    first = await FactPublisher(nc).publish_many(batch)
    assert all(isinstance(r, PubAck) and not r.duplicate for r in first)
    assert sorted(r.seq for r in first if isinstance(r, PubAck)) == list(range(1, 21))
    again = await FactPublisher(nc).publish_many([batch[3], *batch[:3]])
    assert all(isinstance(r, PubAck) and r.duplicate for r in again), "deduplicated by Nats-Msg-Id"
    assert await stored(nc) == 20


async def test_a_fact_jetstream_refuses_fails_alone_and_the_others_are_stored(nc: Client) -> None:
    config = dataclasses.replace(bus.referrals_stream(), max_msg_size=700)
    await nc.jetstream().add_stream(config)
    too_big = make.received(uuid4())  # about 1 KB; a PatientSeen is under 500 bytes
    results = await FactPublisher(nc).publish_many([facts(1)[0], too_big, facts(1)[0]])
    assert isinstance(results[0], PubAck) and isinstance(results[2], PubAck)
    assert isinstance(results[1], BusUnavailable)
    assert await stored(nc) == 2


async def test_without_the_stream_every_fact_is_unavailable(nc: Client) -> None:
    results = await FactPublisher(nc, timeout_s=1.0).publish_many(facts(3))
    assert len(results) == 3 and all(isinstance(r, BusUnavailable) for r in results)


async def test_without_a_connection_nothing_is_published(nc: Client, nats_server: NatsServer) -> None:
    await declare_referral_streams(nc.jetstream(), Settings())
    await nc.close()
    results = await FactPublisher(nc).publish_many(facts(2))
    assert all(isinstance(r, BusUnavailable) for r in results)
    other = await nats.connect(nats_server.url)
    try:
        assert await stored(other) == 0
    finally:
        await other.close()


async def test_nothing_to_publish_is_nothing_to_wait_for(nc: Client) -> None:
    assert await FactPublisher(nc).publish_many([]) == []
