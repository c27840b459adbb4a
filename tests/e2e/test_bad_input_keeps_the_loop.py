"""Issue 14's acceptance: every kind of out-of-range or malformed value an intake user can send is
refused at the edge (422 naming the field, or 404), nothing reaches JetStream, and the loop goes on:
feedback acknowledges the next referral and the ops views count it."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import nats
import pytest

from contracts.bus import STREAM
from launcher.mailsink import MailSink
from launcher.natsd import free_port
from referral_loop.settings import Settings
from referral_loop.web.users import ensure_local_users
from tests.e2e.conftest import Stack, until, until_ok
from tests.support import referrals as make
from tests.support.processes import ProcessRegistry
from tests.support.servers import NatsServer

SUMMARY = {"specialist": "Dr. B", "findings": "f", "assessment": "a", "plan": "p", "recommendations": "r"}
FAR = ("0001-01-01", "9999-12-31")
FAR_TIMES = ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00")
SOON = (datetime.now(UTC) + timedelta(days=2)).isoformat()


def with_patient(**patient: Any) -> dict[str, Any]:
    body = make.referral_body()
    body["patient"] = {**body["patient"], **patient}
    return body


def bad_referrals() -> list[tuple[str, dict[str, Any]]]:
    """(the field the 422 must name, a body with one bad value)."""
    cases = [("patient.birth_date", with_patient(birth_date=day)) for day in (*FAR, "2999-01-01")]
    cases += [("received_at", {**make.referral_body(), "received_at": t}) for t in (*FAR_TIMES, SOON)]
    cases += [("return_visit_on", make.referral_body(return_visit_on=day)) for day in FAR]
    cases += [("requested_by", make.referral_body(requested_by=day)) for day in FAR]
    cases += [
        ("diagnosis_codes.0", make.referral_body(diagnosis_codes=[c])) for c in ("Z99.ZZZZ", "A00.0000")
    ]
    cases += [("patient.phone", with_patient(phone=p)) for p in ("555-0199", "+0 12", "call me")]
    for char in ("\r", "\n", "\x00", "\x1b", "\u202e"):
        cases.append(("patient.family_name", with_patient(family_name=f"Love{char}lace")))
    cases.append(("reason", make.referral_body(reason="chest pain\x1b[2J")))
    return cases


def bad_facts() -> list[tuple[str, str, dict[str, Any]]]:
    """(lifecycle action, the field the 422 must name, a body with one bad value)."""
    cases = [("return-visit", "return_visit_on", {"return_visit_on": day}) for day in FAR]
    cases += [("appointment", "appointment_at", {"appointment_at": t}) for t in FAR_TIMES]
    cases += [("no-show", "appointment_at", {"appointment_at": t}) for t in FAR_TIMES]
    cases += [("accept", "occurred_at", {"occurred_at": t}) for t in (*FAR_TIMES, SOON)]
    cases.append(("decline", "reason", {"reason": "no\x00thanks"}))
    return cases


@pytest.fixture
async def stack_and_views(
    nats_server: NatsServer, store_settings: Settings, services: ProcessRegistry, tmp_path: Path
) -> AsyncIterator[tuple[Stack, httpx.AsyncClient]]:
    with MailSink(tmp_path / "mail") as sink:
        settings = store_settings.model_copy(
            update={
                "nats_url": nats_server.url,
                "intake_port": free_port(),
                "ops_port": free_port(),
                "smtp_host": "127.0.0.1",
                "smtp_port": sink.port,
                "smtp_tls": "none",
            }
        )
        users = ensure_local_users(settings.users_path)
        services.start("store-writer", settings).wait_for_log("store writer recording", timeout=20)
        for service in ("feedback", "projections", "intake"):
            services.start(service, settings)
        intake_auth = ("intake", users["intake"]["password"])
        ops_auth = ("ops", users["ops"]["password"])
        ops_url = f"http://127.0.0.1:{settings.ops_port}"
        async with (
            httpx.AsyncClient(base_url=settings.base_url, auth=intake_auth, timeout=10) as client,
            httpx.AsyncClient(base_url=ops_url, auth=ops_auth, timeout=10) as ops,
        ):
            await until_ok(client, "/readyz")
            await until_ok(ops, "/readyz")
            yield Stack(settings, nats_server, sink, client), ops


async def stream_messages(url: str) -> int:
    nc = await nats.connect(url)
    try:
        return int((await nc.jetstream().stream_info(STREAM)).state.messages)
    finally:
        await nc.close()


def acknowledgements(stack: Stack) -> int:
    return len([m for m in stack.sink.messages() if "Referral received" in str(m["Subject"])])


async def referrals_counted(ops: httpx.AsyncClient) -> int:
    month = datetime.now(UTC).strftime("%Y-%m")
    report = (await ops.get("/api/volume", params={"from": month, "to": month})).json()
    return int(report["totals"].get(month, 0))


async def test_no_bad_value_stops_the_loop(stack_and_views: tuple[Stack, httpx.AsyncClient]) -> None:
    stack, ops = stack_and_views
    first = (await stack.client.post("/api/referrals", json=make.referral_body())).json()["referral_id"]
    await until(lambda: acknowledgements(stack) == 1, "the first acknowledgement")
    await until(lambda: _recorded(stack, first, "AcknowledgementSent"), "the acknowledgement recorded")
    before = await stream_messages(stack.nats.url)

    for field, body in bad_referrals():
        response = await stack.client.post("/api/referrals", json=copy.deepcopy(body))
        assert response.status_code == 422, (field, response.text)
        assert field in {e["field"] for e in response.json()["errors"]}, (field, response.text)
    for action, field, body in bad_facts():
        response = await stack.client.post(f"/api/referrals/{first}/{action}", json=body)
        assert response.status_code == 422, (action, field, response.text)
        assert any(e["field"].endswith(field) for e in response.json()["errors"]), (action, response.text)
    unknown = await stack.client.post(f"/api/referrals/{uuid4()}/seen", json=SUMMARY)
    assert unknown.status_code == 404, unknown.text
    assert await stream_messages(stack.nats.url) == before, "a refused value reached JetStream"

    await stack.client.post("/api/referrals", json=make.referral_body())
    await until(lambda: acknowledgements(stack) == 2, "the next referral's acknowledgement")

    async def both_counted() -> bool:
        return await referrals_counted(ops) == 2

    await until(both_counted, "the views (what the dashboard draws) counting the next referral")


async def _recorded(stack: Stack, referral_id: str, fact_type: str) -> bool:
    timeline = (await stack.client.get(f"/api/referrals/{referral_id}")).json().get("timeline", [])
    return fact_type in {entry["type"] for entry in timeline}
