"""No patient detail reaches a log: a referral with canary patient details goes through intake, the
store writer and feedback, down paths that log (a refused field, the report's recipient refused by
SMTP, a poison message), and no service's log holds a canary. Every line is one JSON object."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import nats

from contracts import bus
from launcher.mailsink import MailSink
from referral_loop.settings import Settings
from referral_loop.web.users import ensure_local_users
from tests.ops.support import wait_ready
from tests.support import referrals as make
from tests.support.processes import ProcessRegistry, free_port, wait_until
from tests.support.servers import NatsServer

CANARIES = ["Zebulon", "Canaryfield", "1911-11-11", "Canarycough", "R07.89", "+15550199911", "Q-CANARY-7"]
REPORT_TO = "reports@harbor.example"


def canary_referral() -> dict[str, object]:
    body = make.referral_body(reason="Canarycough on exertion.", diagnosis_codes=["R07.89"])
    body["patient"] = {
        **body["patient"],  # type: ignore[dict-item]
        "given_name": "Zebulon",
        "family_name": "Canaryfield",
        "birth_date": "1911-11-11",
        "phone": "+15550199911",
        "insurance": {"payer": "Acme Health", "member_id": "Q-CANARY-7"},
    }
    return body


async def test_a_referral_with_canary_patient_details_leaves_no_trace_in_any_log(
    tmp_path: Path, nats_server: NatsServer, services: ProcessRegistry
) -> None:
    with MailSink(tmp_path / "mail") as sink:
        sink.refuse_recipients[REPORT_TO] = "550 5.1.1 no such mailbox here"
        settings = Settings(
            data_dir=tmp_path,
            nats_url=nats_server.url,
            intake_port=free_port(),
            smtp_port=sink.port,
            smtp_tls="none",
            log_level="DEBUG",
        )
        password = ensure_local_users(settings.users_path)["intake"]["password"]
        started = [services.start("store-writer", settings)]
        started[0].wait_for_log("store writer recording", timeout=30)
        started += [services.start("feedback", settings), services.start("intake", settings)]
        wait_ready(settings.intake_port)
        async with httpx.AsyncClient(
            base_url=settings.base_url, auth=("intake", password), timeout=30
        ) as client:
            refused = await client.post(
                "/api/referrals", json={**canary_referral(), "priority": "Canarycough"}
            )
            assert refused.status_code == 422
            rid = (await client.post("/api/referrals", json=canary_referral())).json()["referral_id"]
            seen = {
                "specialist": "Dr. Byron",
                "findings": "Canarycough resolved.",
                "assessment": "Zebulon ok.",
                "plan": "Canaryfield plan.",
                "recommendations": "None.",
            }
            await wait_ok(client, f"/api/referrals/{rid}")
            assert (await client.post(f"/api/referrals/{rid}/seen", json=seen)).status_code == 202
            nc = await nats.connect(nats_server.url)
            try:
                poison = json.dumps({"type": "ReferralReceived", "data": canary_referral()}).encode()
                await nc.jetstream().publish(f"{bus.SUBJECT_PREFIX}.ReferralReceived", poison)
            finally:
                await nc.close()
            wait_until(
                lambda: any(
                    "Undeliverable" in str(m["Subject"]) or "ops@" in str(m["To"]) for m in sink.messages()
                ),
                60,
                "the failed report escalated to ops",
            )
        for service in started:
            assert service.stop() == 0
    for service in started:
        text = service.log_text()
        leaked = [c for c in CANARIES if c in text]
        assert not leaked, f"{service.subcommand} logged {leaked}"
        for line in text.splitlines():
            assert {"time", "level", "service", "logger", "message"} <= json.loads(line).keys(), line
    feedback_log = started[1].log_text()
    assert "failed for good" in feedback_log  # the refusal was logged, without the server's words


async def wait_ok(client: httpx.AsyncClient, path: str) -> None:
    for _ in range(600):
        if (await client.get(path)).status_code == 200:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} never answered 200")
