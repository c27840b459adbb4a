"""Minimum necessary by email: in `minimum` mode no patient detail leaves in any email (raw bytes,
every header, every decoded part), only a notice and a link; in `full` mode the details are in
the body only, never in a header."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from jinja2 import UndefinedError

from contracts.events import ConsultSummary, PatientSeen
from launcher.mailsink import MailSink
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.ledger import Positioned
from referral_loop.web.users import ensure_local_users
from services.feedback.rendering import Renderer
from services.intake.app import create_app
from tests.feedback.harness import feedback_settings, running_loop
from tests.feedback.test_mailer import make_letter
from tests.support import referrals as make
from tests.support.servers import NatsServer
from tests.support.signin import signed_in_client

PATIENT = {"given_name": "Zebulon", "family_name": "Quixotefield", "birth_date": "1931-07-13"}
REASON = "Canary xylophagia of the left atrium"
FINDINGS = "Canary findings: perimyocardial quintessence"
ASSESSMENT = "Canary assessment: Quixotefield syndrome"
CANARIES = ["Zebulon", "Quixotefield", "1931", "13 July", "xylophagia", "quintessence", "R07.9", "I10"]
PUBLIC_URL = "https://intake.practice.example"


def canary_referral(rid: Any) -> list[Any]:
    patient = {**make.referral_body()["patient"], **PATIENT}
    summary = ConsultSummary(
        specialist="Dr. Ada Byron",
        findings=FINDINGS,
        assessment=ASSESSMENT,
        plan="Start a beta blocker.",
        recommendations="Recheck in 4 weeks.",
    )
    return [make.received(rid, patient=patient, reason=REASON), PatientSeen.new(rid, summary, make.STAFF)]


def headers_of(message: EmailMessage) -> str:
    """Every header of every part, decoded (encoded words, folding), except the sink's envelope."""
    parts = [message, *message.walk()]
    return "\n".join(f"{k}: {v}" for part in parts for k, v in part.items() if k != "X-Envelope-To")


def bodies_of(message: EmailMessage) -> str:
    """Every leaf part, decoded (quoted-printable, base64)."""
    leaves = (part for part in message.walk() if not part.is_multipart())
    return "\n".join(str(part.get_content()) for part in leaves)


def found(canaries: list[str], text: str) -> list[str]:
    return [canary for canary in canaries if canary.lower() in text.lower()]


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[MailSink]:
    with MailSink(tmp_path / "mail") as started:
        yield started


async def sent_about_a_canary(
    nats_url: str, sink: MailSink, tmp_path: Path, mode: str
) -> tuple[Any, list[bytes]]:
    """The acknowledgement, consult report and thank-you note for a canary patient, as sent."""
    base = Settings(data_dir=tmp_path, email_mode=mode, public_url=PUBLIC_URL)  # type: ignore[arg-type]
    rid = uuid4()
    async with running_loop(feedback_settings(base, nats_url, sink), sink) as loop:
        await loop.publish(*canary_referral(rid))
        await loop.until(lambda: len(sink.files()) == 3, "three emails")
    return rid, [path.read_bytes() for path in sink.files()]


async def test_minimum_mode_sends_no_patient_detail_anywhere_only_a_link(
    nats_server: NatsServer, sink: MailSink, tmp_path: Path
) -> None:
    rid, sent = await sent_about_a_canary(nats_server.url, sink, tmp_path, "minimum")
    links = []
    for raw in sent:
        assert found(CANARIES, raw.decode("utf-8", "replace")) == [], "in the raw bytes"
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        assert found(CANARIES, headers_of(message)) == [], "in a header"
        assert found([*CANARIES, "Harbor Family", "Grace Hopper"], bodies_of(message)) == [], "in a part"
        links.append(f"{PUBLIC_URL}/referrals/{rid}/report" in bodies_of(message))
    assert sorted(links) == [False, False, True], "the report's notice links to the report page"


async def test_full_mode_puts_patient_details_in_the_body_and_never_in_a_header(
    nats_server: NatsServer, sink: MailSink, tmp_path: Path
) -> None:
    _, sent = await sent_about_a_canary(nats_server.url, sink, tmp_path, "full")
    messages = [message_from_bytes(raw, policy=policy.default) for raw in sent]
    for message in messages:
        assert isinstance(message, EmailMessage)
        assert found(CANARIES, headers_of(message)) == [], f"in a header of {message['Subject']}"
    report = next(m for m in messages if str(m["Subject"]).startswith("Consult report"))
    assert isinstance(report, EmailMessage)
    assert found(["Zebulon", "Quixotefield", "quintessence", "xylophagia"], bodies_of(report)) == [
        "Zebulon",
        "Quixotefield",
        "quintessence",
        "xylophagia",
    ]


async def test_the_link_leads_to_the_report_for_signed_in_staff_who_may_see_patients_only(
    tmp_path: Path,
) -> None:
    settings = Settings(
        data_dir=tmp_path, sqlite_path=tmp_path / "store.sqlite", public_url="https://intake.test"
    )
    passwords = {name: user["password"] for name, user in ensure_local_users(settings.users_path).items()}
    rid = uuid4()
    ledger = open_ledger(settings)
    ledger.record_batch([Positioned(i + 1, fact) for i, fact in enumerate(canary_referral(rid))])
    ledger.close()
    app = create_app(settings)
    try:
        async with signed_in_client(
            app, "intake", passwords["intake"], base_url="https://intake.test"
        ) as client:
            page = await client.get(f"/referrals/{rid}/report")
            assert page.status_code == 200 and FINDINGS in page.text and "Quixotefield" in page.text
            assert (await client.get(f"/referrals/{uuid4()}/report")).status_code == 404
        async with signed_in_client(app, "ops", passwords["ops"], base_url="https://intake.test") as client:
            refused = await client.get(f"/referrals/{rid}/report")
            assert refused.status_code == 403 and FINDINGS not in refused.text
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://intake.test") as anonymous:
            answer = await anonymous.get(f"/referrals/{rid}/report")
            assert FINDINGS not in answer.text and "Quixotefield" not in answer.text
    finally:
        app.state.intake.reader.ledger.close()


def test_a_minimum_template_override_asking_for_the_patient_fails_instead_of_leaking(tmp_path: Path) -> None:
    (tmp_path / "report.minimum.txt").write_text(
        "{% extends 'layout.txt' %}{% block body %}{{ patient.family_name }}{% endblock %}"
    )
    summary = canary_referral(uuid4())[1].data
    letter = replace(
        make_letter(patient={**make.referral_body()["patient"], **PATIENT}),
        summary=summary,
        seen_at=datetime.now(UTC),
    )
    assert "Quixotefield" in Renderer(tmp_path).render(letter).text  # the full mode's templates do show it
    with pytest.raises(UndefinedError, match="patient"):
        Renderer(tmp_path, minimum=True).render(letter)
