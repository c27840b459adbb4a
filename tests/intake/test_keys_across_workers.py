"""Against a real nats-server, store writer and two intake processes (INTAKE_WORKERS=2): one
Idempotency-Key posted at once with two bodies gets one body in and the other refused (422),
before and after the store records it; a fact right after its referral is taken; a fact for an
unknown referral is a 404 and nothing reaches the streams. Issue 14, findings 3 and 4."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import nats
import pytest

from contracts import bus
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.web.users import ensure_local_users
from tests.ops.support import wait_ready
from tests.support.processes import ProcessRegistry, free_port, wait_until
from tests.support.referrals import referral_body
from tests.support.servers import NatsServer

ATTEMPTS, ROUNDS = 16, 6
SUMMARY = {"specialist": "Dr. B", "findings": "f", "assessment": "a", "plan": "p", "recommendations": "r"}


@pytest.fixture
async def stack(
    tmp_path: Path, nats_server: NatsServer, services: ProcessRegistry
) -> AsyncIterator[tuple[Settings, httpx.AsyncClient]]:
    settings = Settings(
        data_dir=tmp_path, nats_url=nats_server.url, intake_port=free_port(), intake_workers=2
    )
    password = ensure_local_users(settings.users_path)["intake"]["password"]
    services.start("store-writer", settings).wait_for_log("store writer recording", timeout=30)
    services.start("intake", settings)
    wait_ready(settings.intake_port)
    fresh = httpx.Limits(max_keepalive_connections=0)  # a connection per request: both workers answer
    async with httpx.AsyncClient(
        base_url=settings.base_url, auth=("intake", password), timeout=30, limits=fresh
    ) as client:
        yield settings, client


def booking(days: int) -> dict[str, str]:
    return {"appointment_at": (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0).isoformat()}


def recorded(settings: Settings, referral_id: str, event_id: str) -> Any:
    """The fact the store recorded with this event id, if it has."""
    ledger = open_ledger(settings)
    try:
        return next((f for f in ledger.timeline(UUID(referral_id)) if str(f.event_id) == event_id), None)
    finally:
        ledger.close()


async def test_one_key_posted_at_once_with_two_bodies_lets_one_body_in(
    stack: tuple[Settings, httpx.AsyncClient],
) -> None:
    settings, client = stack
    rid = (await client.post("/api/referrals", json=referral_body())).json()["referral_id"]
    accept = await client.post(
        f"/api/referrals/{rid}/accept", json={}
    )  # at once: no 404 while it is recorded
    assert accept.status_code == 202, accept.text
    for round_ in range(ROUNDS):  # each a race between the workers, any of which may claim first
        await race(settings, client, rid, f"book-{round_}", [booking(3 + round_), booking(30 + round_)])


async def race(settings: Settings, client: httpx.AsyncClient, rid: str, key: str, bodies: list[Any]) -> None:
    path, headers = f"/api/referrals/{rid}/appointment", {"Idempotency-Key": key}
    answers = await asyncio.gather(
        *(client.post(path, json=bodies[i % 2], headers=headers) for i in range(ATTEMPTS))
    )
    taken = {i % 2 for i, a in enumerate(answers) if a.status_code == 202}
    assert len(taken) == 1, [a.status_code for a in answers]
    (winner,) = taken
    assert all(a.status_code == 422 for i, a in enumerate(answers) if i % 2 != winner)
    (event_id,) = {a.json()["event_id"] for a in answers if a.status_code == 202}
    wait_until(lambda: recorded(settings, rid, event_id) is not None, 30, "the appointment recorded")
    fact = recorded(settings, rid, event_id)
    assert fact.data.appointment_at == datetime.fromisoformat(bodies[winner]["appointment_at"])
    late_other = await client.post(path, json=bodies[1 - winner], headers=headers)
    late_same = await client.post(path, json=bodies[winner], headers=headers)
    assert late_other.status_code == 422
    assert late_same.status_code == 202 and late_same.json()["event_id"] == event_id


async def test_a_fact_for_an_unknown_referral_is_404_and_nothing_reaches_the_streams(
    stack: tuple[Settings, httpx.AsyncClient],
) -> None:
    settings, client = stack
    response = await client.post(
        f"/api/referrals/{uuid4()}/seen", json=SUMMARY, headers={"Idempotency-Key": "s"}
    )
    assert response.status_code == 404
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        assert (await js.stream_info(bus.STREAM)).state.messages == 0
        assert (await js.stream_info(bus.DEADLETTER_STREAM)).state.messages == 0
    finally:
        await nc.close()
