"""Nothing lost, nothing doubled: the store writer killed with -9 mid-stream, nats-server restarted."""

from __future__ import annotations

import asyncio
import time

import nats
from nats.js import JetStreamContext

from contracts import Fact
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from tests.support import referrals as make
from tests.support.bus import declare_all, publish
from tests.support.processes import ProcessRegistry, wait_until
from tests.support.servers import NatsServer, restart_nats
from tests.support.store import recorded_event_ids

IN_FLIGHT = 2000


async def publish_all(js: JetStreamContext, facts: list[Fact], chunk: int = 200) -> None:
    for start in range(0, len(facts), chunk):
        await asyncio.gather(*(publish(js, f) for f in facts[start : start + chunk]))


def recorded_count(settings: Settings) -> int:
    ledger = open_ledger(settings)
    try:
        return sum(recorded_event_ids(ledger).values())
    finally:
        ledger.close()


async def test_kill_9_of_the_store_writer_with_2000_facts_in_flight_records_each_exactly_once(
    nats_server: NatsServer, store_settings: Settings, services: ProcessRegistry
) -> None:
    settings = store_settings.model_copy(update={"nats_url": nats_server.url, "writer_batch": 50})
    nc = await nats.connect(nats_server.url)
    await declare_all(nc.jetstream(), settings)
    facts: list[Fact] = [make.received() for _ in range(IN_FLIGHT)]
    await publish_all(nc.jetstream(), facts)
    await nc.close()

    writer = services.start("store-writer", settings)
    wait_until(lambda: recorded_count(settings) >= 100, timeout=30, what="recording has started")
    writer.kill()
    killed_at = recorded_count(settings)
    assert killed_at < IN_FLIGHT, "the writer finished before it was killed: nothing was in flight"

    services.start("store-writer", settings)
    wait_until(
        lambda: recorded_count(settings) >= IN_FLIGHT,
        timeout=90,
        what=f"all facts recorded, {recorded_count(settings)} so far",
    )
    time.sleep(0.5)
    ledger = open_ledger(settings)
    try:
        counts = recorded_event_ids(ledger)
    finally:
        ledger.close()
    assert set(counts) == {str(f.event_id) for f in facts}
    assert max(counts.values()) == 1


async def test_a_nats_server_crash_mid_stream_loses_no_acknowledged_fact(
    nats_server: NatsServer, store_settings: Settings, services: ProcessRegistry
) -> None:
    settings = store_settings.model_copy(update={"nats_url": nats_server.url})
    nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    await declare_all(nc.jetstream(), settings)
    services.start("store-writer", settings).wait_for_log("store writer recording", timeout=20)
    acked: list[Fact] = []
    for i in range(600):
        if i == 300:
            nats_server.kill()
            restart_nats(nats_server)
        fact = make.received()
        try:
            await publish(nc.jetstream(), fact)
        except Exception:
            continue
        acked.append(fact)
    await nc.close()
    assert len(acked) > 300
    wait_until(lambda: recorded_count(settings) >= len(acked), timeout=60, what="acknowledged facts recorded")
    ledger = open_ledger(settings)
    try:
        counts = recorded_event_ids(ledger)
    finally:
        ledger.close()
    assert {str(f.event_id) for f in acked} <= set(counts)
    assert max(counts.values()) == 1
