"""End to end on the real topology: nats-server, a store writer process and an intake process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from referral_loop.natsd import free_port
from referral_loop.settings import Settings
from services.intake.users import ensure_local_users
from tests.support import referrals as make
from tests.support.processes import ProcessRegistry
from tests.support.servers import NatsServer


@dataclass
class Stack:
    settings: Settings
    nats: NatsServer
    client: httpx.AsyncClient


@pytest.fixture
async def stack(
    nats_server: NatsServer, store_settings: Settings, services: ProcessRegistry
) -> AsyncIterator[Stack]:
    settings = store_settings.model_copy(
        update={"nats_url": nats_server.url, "intake_port": free_port(), "intake_host": "127.0.0.1"}
    )
    password = ensure_local_users(settings.users_path)["intake"]["password"]
    services.start("store-writer", settings).wait_for_log("store writer recording", timeout=20)
    services.start("intake", settings)
    async with httpx.AsyncClient(base_url=settings.base_url, auth=("intake", password), timeout=10) as client:
        await until_ok(client, "/readyz")
        yield Stack(settings, nats_server, client)


async def until_ok(client: httpx.AsyncClient, path: str, timeout: float = 20) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = await client.get(path)
            if response.status_code == 200 or time.monotonic() > deadline:
                return response
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.05)


async def test_a_posted_referral_shows_with_its_timeline_within_a_second(stack: Stack) -> None:
    posted = await stack.client.post("/api/referrals", json=make.referral_body())
    assert posted.status_code == 202, posted.text
    started = time.monotonic()
    shown = await until_ok(stack.client, posted.json()["status_url"], timeout=1.0)
    assert shown.status_code == 200, f"not shown within a second ({time.monotonic() - started:.2f}s)"
    assert shown.json()["status"] == "received"
    assert [e["type"] for e in shown.json()["timeline"]] == ["ReferralReceived"]


async def test_the_lifecycle_through_the_api_builds_the_timeline(stack: Stack) -> None:
    rid = (await stack.client.post("/api/referrals", json=make.referral_body())).json()["referral_id"]
    await until_ok(stack.client, f"/api/referrals/{rid}")
    steps: list[tuple[str, dict[str, Any]]] = [
        ("accept", {}),
        ("appointment", {"appointment_at": "2026-12-01T09:30:00+00:00"}),
        (
            "seen",
            {"specialist": "Dr. B", "findings": "f", "assessment": "a", "plan": "p", "recommendations": "r"},
        ),
        ("return-visit", {"return_visit_on": "2026-12-20"}),
    ]
    for action, body in steps:
        response = await stack.client.post(f"/api/referrals/{rid}/{action}", json=body)
        assert response.status_code == 202, response.text
    types = [
        "ReferralReceived",
        "ReferralAccepted",
        "AppointmentScheduled",
        "PatientSeen",
        "ReturnVisitScheduled",
    ]
    deadline = time.monotonic() + 10
    while (
        timeline := [e["type"] for e in (await stack.client.get(f"/api/referrals/{rid}")).json()["timeline"]]
    ) != types:
        assert time.monotonic() < deadline, timeline
        await asyncio.sleep(0.05)


async def test_with_nats_down_intake_answers_503_and_nothing_is_recorded(stack: Stack) -> None:
    stack.nats.stop()
    refused = await stack.client.post(
        "/api/referrals", json=make.referral_body(), headers={"Idempotency-Key": "n-1"}
    )
    assert refused.status_code == 503
    assert "nothing was accepted" in refused.json()["detail"]
    stack.nats.restart()
    deadline = time.monotonic() + 20
    while (
        again := await stack.client.post(
            "/api/referrals", json=make.referral_body(), headers={"Idempotency-Key": "n-1"}
        )
    ).status_code == 503:
        assert time.monotonic() < deadline, "intake did not reconnect to NATS"
        await asyncio.sleep(0.2)
    assert again.status_code == 202
    shown = await until_ok(stack.client, again.json()["status_url"], timeout=10)
    assert len(shown.json()["timeline"]) == 1
