"""End to end on the real topology (tests/e2e/conftest.py): a referral from the API to the store."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.e2e.conftest import Stack, until_ok
from tests.support import referrals as make
from tests.support.servers import restart_nats


async def test_a_posted_referral_shows_with_its_timeline(stack: Stack) -> None:
    """Speed is the benchmark's to show (bench/); a generous bound here keeps a busy CI machine honest."""
    posted = await stack.client.post("/api/referrals", json=make.referral_body())
    assert posted.status_code == 202, posted.text
    started = time.monotonic()
    shown = await until_ok(stack.client, posted.json()["status_url"], timeout=10.0)
    assert shown.status_code == 200, f"not shown after {time.monotonic() - started:.2f}s"
    assert shown.json()["status"] == "received"
    assert shown.json()["timeline"][0]["type"] == "ReferralReceived"


async def staff_facts(stack: Stack, rid: str) -> list[str]:
    """The facts staff recorded (feedback adds its own, such as AcknowledgementSent, in between)."""
    timeline = (await stack.client.get(f"/api/referrals/{rid}")).json()["timeline"]
    return [e["type"] for e in timeline if e["actor"] != "feedback"]


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
    while (timeline := await staff_facts(stack, rid)) != types:
        assert time.monotonic() < deadline, timeline
        await asyncio.sleep(0.05)


async def test_with_nats_down_intake_answers_503_and_nothing_is_recorded(stack: Stack) -> None:
    stack.nats.stop()
    refused = await stack.client.post(
        "/api/referrals", json=make.referral_body(), headers={"Idempotency-Key": "n-1"}
    )
    assert refused.status_code == 503
    assert "nothing was accepted" in refused.json()["detail"]
    restart_nats(stack.nats)
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
    assert [e["type"] for e in shown.json()["timeline"]].count("ReferralReceived") == 1
