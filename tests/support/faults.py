"""Helpers of the fault tests (tests/faults): referral lifecycles to publish, what the store and the
store writer's consumer hold, and a store writer run in-process for the tests that need to reach in."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from uuid import UUID, uuid4

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo

from contracts import Fact, bus
from contracts.events import ReturnVisit, ReturnVisitScheduled
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.ledger import ReferralLedger
from services.store_writer.writer import StoreWriter
from tests.support import referrals as make
from tests.support.bus import dead_letters, publish
from tests.support.store import recorded_event_ids


def return_visit(referral_id: UUID, on: date = date(2027, 1, 15)) -> ReturnVisitScheduled:
    return ReturnVisitScheduled.new(referral_id, ReturnVisit(return_visit_on=on), make.STAFF)


def lifecycle(referral_id: UUID | None = None) -> list[Fact]:
    """Received, accepted, booked, return visit known, seen: each only allowed after the one before."""
    rid = referral_id or uuid4()
    return [make.received(rid), make.accepted(rid), make.scheduled(rid), return_visit(rid), make.seen(rid)]


async def publish_in_order(js: JetStreamContext, facts: list[Fact]) -> None:
    """One referral's facts, each published once the one before is in the stream."""
    for fact in facts:
        await publish(js, fact)


async def publish_interleaved(js: JetStreamContext, lifecycles: list[list[Fact]]) -> None:
    """Every referral's facts at once, so the stream interleaves referrals (each still in order)."""
    await asyncio.gather(*(publish_in_order(js, facts) for facts in lifecycles))


def store_counts(settings: Settings) -> Counter[str]:
    """How many times each event id is in the store (opened and closed for one look)."""
    ledger = open_ledger(settings)
    try:
        return recorded_event_ids(ledger)
    finally:
        ledger.close()


def recorded_total(settings: Settings) -> int:
    return sum(store_counts(settings).values())


def timelines(settings: Settings, referral_ids: list[UUID]) -> dict[UUID, list[Fact]]:
    ledger = open_ledger(settings)
    try:
        return {rid: ledger.timeline(rid) for rid in referral_ids}
    finally:
        ledger.close()


async def until_recorded(settings: Settings, nc: Client, expected: int, timeout: float = 90.0) -> None:
    """Wait until `expected` facts are in the store; fail at once if any fact is dead-lettered."""
    deadline = time.monotonic() + timeout
    while (total := await asyncio.to_thread(recorded_total, settings)) < expected:
        letters = await dead_letters(nc)
        assert not letters, f"facts dead-lettered: {letters[:3]}"
        assert time.monotonic() < deadline, f"{total} of {expected} facts recorded within {timeout}s"
        await asyncio.sleep(0.2)


async def writer_consumer(js: JetStreamContext) -> ConsumerInfo:
    info: ConsumerInfo = await js.consumer_info(bus.STREAM, bus.STORE_WRITER)
    return info


@asynccontextmanager
async def writer_task(
    js: JetStreamContext, ledger: ReferralLedger, batch: int = 50
) -> AsyncIterator[StoreWriter]:
    """A StoreWriter running as a task on `ledger`; stopped (and awaited) on leaving."""
    writer = StoreWriter(js, ledger, batch, 0.05)
    task = asyncio.create_task(writer.run())
    try:
        yield writer
    finally:
        writer.stopping.set()
        await asyncio.wait_for(task, 15)
