"""The store writer against a real nats-server and a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import uuid4

import nats
import pytest
from nats.aio.client import Client

from contracts import bus
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.ledger import ReferralLedger
from services.store_writer.writer import StoreWriter
from tests.support import referrals as make
from tests.support.bus import dead_letters, declare_all, eventually, publish
from tests.support.servers import NatsServer


@pytest.fixture
async def running(
    nats_server: NatsServer, store_settings: Settings
) -> AsyncIterator[tuple[Client, ReferralLedger]]:
    settings = store_settings.model_copy(update={"nats_url": nats_server.url})
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await declare_all(js, settings)
    ledger = open_ledger(settings)
    writer = StoreWriter(js, ledger, batch_size=100, fetch_wait_s=0.05)
    task = asyncio.create_task(writer.run())
    yield nc, ledger
    writer.stopping.set()
    await asyncio.wait_for(task, 5)
    await nc.close()
    ledger.close()


async def test_facts_are_recorded_in_order(running: tuple[Client, ReferralLedger]) -> None:
    nc, ledger = running
    rid = uuid4()
    facts = [make.received(rid), make.accepted(rid), make.scheduled(rid), make.seen(rid)]
    for fact in facts:
        await publish(nc.jetstream(), fact)
    await eventually(lambda: len(ledger.timeline(rid)) == 4, what="four facts recorded")
    assert ledger.timeline(rid) == facts


async def test_the_same_fact_under_a_new_message_id_is_recorded_once(
    running: tuple[Client, ReferralLedger],
) -> None:
    nc, ledger = running
    rid, marker = uuid4(), uuid4()
    accept = make.accepted(rid)
    await publish(nc.jetstream(), make.received(rid))
    await publish(nc.jetstream(), accept, msg_id="first")
    await publish(nc.jetstream(), accept, msg_id="second")
    await publish(nc.jetstream(), make.received(marker))
    await eventually(lambda: ledger.referral(marker) is not None, what="the marker referral")
    assert [f.type for f in ledger.timeline(rid)] == ["ReferralReceived", "ReferralAccepted"]


async def test_poison_is_dead_lettered_with_its_reason_and_later_facts_flow(
    running: tuple[Client, ReferralLedger],
) -> None:
    nc, ledger = running
    js = nc.jetstream()
    rid, later = uuid4(), uuid4()
    await js.publish(bus.subject_for("ReferralReceived"), b'{"not": "a fact"}')
    await publish(js, make.received(rid))
    await publish(js, make.cancelled(rid))
    await publish(js, make.seen(rid))
    await publish(js, make.received(later))
    await eventually(lambda: ledger.referral(later) is not None, what="the later referral")
    letters = await dead_letters(nc)
    assert len(letters) == 2
    assert letters[0][0] == "deadletter.referrals.ReferralReceived"
    assert letters[0][1].startswith("undecodable fact: ")
    assert letters[1] == (
        "deadletter.referrals.PatientSeen",
        "PatientSeen is not allowed on a referral that is cancelled",
    )
    assert [f.type for f in ledger.timeline(rid)] == ["ReferralReceived", "ReferralCancelled"]


async def test_a_fact_arriving_before_its_referral_is_retried_until_the_referral_is_recorded(
    running: tuple[Client, ReferralLedger],
) -> None:
    nc, ledger = running
    rid = uuid4()
    await publish(nc.jetstream(), make.accepted(rid))
    await asyncio.sleep(0.3)
    await publish(nc.jetstream(), make.received(rid))
    await eventually(lambda: len(ledger.timeline(rid)) == 2, timeout=15, what="the retried fact")
    assert await dead_letters(nc) == []
