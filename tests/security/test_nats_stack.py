"""Least privilege that still works: the whole topology (bench.stack, as `make run` runs it) with
each service on its own NATS user, and `make run`'s credentials generated once, private, and
outside the repository."""

from __future__ import annotations

import asyncio
import stat
import subprocess
import time
from pathlib import Path

from bench.stack import running_stack
from launcher.devstack import embedded_nats
from referral_loop.messaging.bus import seed_file
from referral_loop.messaging.nats_auth import ROLES, SERVICES, seed_path
from referral_loop.settings import Settings
from reliability.client import IntakeClient
from tests.support import referrals as make

ROOT = Path(__file__).resolve().parents[2]
WANTED = {"ReferralReceived", "ReturnVisitScheduled", "PatientSeen", "AcknowledgementSent", "ReportSent"}
SUMMARY = {
    "specialist": "Dr. Ada Byron",
    "findings": "Normal echo.",
    "assessment": "Stable angina.",
    "plan": "Start a beta blocker.",
    "recommendations": "Recheck blood pressure in 4 weeks.",
}


def test_make_run_generates_private_credentials_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    config = embedded_nats(settings).config_text()
    secrets = settings.nats_secrets_path
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    seeds = {role: seed_path(secrets, role).read_text() for role in ROLES}
    for role in ROLES:
        assert stat.S_IMODE(seed_path(secrets, role).stat().st_mode) == 0o600
        assert seeds[role].strip() not in config, "a seed is a secret: the server holds public keys only"
    assert embedded_nats(settings).config_text() == config, "generated once, the same on every run"
    assert {role: seed_path(secrets, role).read_text() for role in ROLES} == seeds
    for role in SERVICES:  # each child finds its own seed from the settings it is given
        assert seed_file(settings, role) == seed_path(secrets, role)
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "var/secrets/nats/intake.nk"], cwd=ROOT, check=False
    )
    assert ignored.returncode == 0, "make run's secrets (under var/) must never be committed"


async def timeline(client: IntakeClient, rid: str) -> set[str]:
    answer = await client.http.get(f"/api/referrals/{rid}")
    return {e["type"] for e in answer.json()["timeline"]} if answer.status_code == 200 else set()


async def referral_through_the_stack(base_url: str, password: str) -> set[str]:
    """Submit a referral, its return visit and the visit; the facts the store ends up with."""
    client = IntakeClient(base_url, password)
    try:
        posted = await client.http.post("/api/referrals", json=make.referral_body())
        assert posted.status_code == 202, posted.text
        rid = posted.json()["referral_id"]
        for action, body in (("return-visit", {"return_visit_on": "2027-01-15"}), ("seen", SUMMARY)):
            answer = await client.http.post(f"/api/referrals/{rid}/{action}", json=body)
            assert answer.status_code == 202, answer.text
        deadline = time.monotonic() + 60
        while not (found := await timeline(client, rid)) >= WANTED and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        return found
    finally:
        await client.close()


def test_every_service_does_its_job_with_its_own_user(tmp_path: Path) -> None:
    """intake publishes, the store writer consumes, acks and records, feedback emails and
    announces: a referral reaches the store and its consult report goes out, and nats-server
    refused nothing on the way."""
    with running_stack(tmp_path) as stack:
        assert "authorization {" in stack.nats.config_text()
        found = asyncio.run(referral_through_the_stack(stack.settings.base_url, stack.password))
        log = stack.nats.log_path.read_text() if stack.nats.log_path else ""
        mail = [p.read_text(errors="replace") for p in stack.settings.mail_dir.rglob("*.eml")]
    assert found >= WANTED, f"missing from the store: {WANTED - found}"
    assert any("Consult report" in m for m in mail), "the consult report email"
    assert "Violation" not in log and "authentication error" not in log, log
