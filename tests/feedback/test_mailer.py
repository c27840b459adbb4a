"""SmtpMailer and build_message against the real MailSink over a socket: headers, reuse,
injection, addresses, TLS, authentication and every kind of failure."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
import trustme
from pydantic import SecretStr

from contracts.forgetting import STORED_CONTEXT
from contracts.referral import Referral
from launcher.mailsink import MailSink
from referral_loop.settings import Settings
from services.feedback.letters import Kind, Letter, Practice, Rendered
from services.feedback.mailer import SmtpMailer
from services.feedback.message import (
    AuthRejected,
    BadAddress,
    PermanentFailure,
    TlsUnavailable,
    TransientFailure,
)
from tests.support.mail import build_message
from tests.support.referrals import referral_body

PRACTICE = Practice(
    name="Referral Loop Specialty Clinic",
    address="1 Main St",
    phone="+15550100000",
    email="referrals@practice.example",
    ops_email="ops@practice.example",
)
RENDERED = Rendered(subject="Consult report RL-XXXX", text="The report.\n", html="<p>The report.</p>")
INJECTION = "\r\nBcc: x@example.org"


def make_letter(
    kind: Kind = Kind.REPORT, referral_id: UUID | None = None, to: str | None = None, **body: Any
) -> Letter:
    referral = Referral.model_validate(referral_body(**body), context=STORED_CONTEXT)  # as recorded
    assert referral.referring_clinic.report_email is not None
    return Letter(
        kind=kind,
        referral_id=referral_id or uuid4(),
        to=referral.referring_clinic.report_email if to is None else to,
        practice=PRACTICE,
        referral=referral,
        received_at=datetime.now(UTC),
    )


def message(letter: Letter | None = None, rendered: Rendered = RENDERED) -> EmailMessage:
    return build_message(rendered, letter or make_letter(), PRACTICE)


def smtp_settings(sink: MailSink, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"smtp_port": sink.port, "smtp_tls": "none", "smtp_timeout_s": 5.0}
    return Settings(smtp_host="127.0.0.1", **(values | overrides))


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[MailSink]:
    with MailSink(tmp_path / "mail") as started:
        yield started


@pytest.fixture
async def mailer(sink: MailSink) -> AsyncIterator[SmtpMailer]:
    async with SmtpMailer(smtp_settings(sink)) as opened:
        yield opened


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


def header_block(path: Path) -> bytes:
    return path.read_bytes().split(b"\r\n\r\n", 1)[0]


async def test_message_arrives_with_its_headers_and_both_parts(mailer: SmtpMailer, sink: MailSink) -> None:
    letter = make_letter()
    await mailer.send(message(letter))
    [received] = sink.messages()
    assert received["From"] == f"{PRACTICE.name} <{PRACTICE.email}>"
    assert received["To"] == "reports@harbor.example"
    assert received["Reply-To"] == PRACTICE.email
    assert received["Subject"] == "Consult report RL-XXXX"
    assert received["Message-ID"] == f"<report.{letter.referral_id}@practice.example>"
    assert received["X-Referral-Reference"] == letter.reference
    assert received.get_all("X-Envelope-To") == ["<reports@harbor.example>"]
    assert received.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part.get_content() for part in received.iter_parts()}
    assert parts == {"text/plain": "The report.\n", "text/html": "<p>The report.</p>\n"}


def test_message_id_is_stable_per_referral_and_kind() -> None:
    referral_id = uuid4()
    first, again = (message(make_letter(Kind.REPORT, referral_id)) for _ in range(2))
    thanks = message(make_letter(Kind.THANK_YOU, referral_id))
    assert first["Message-ID"] == again["Message-ID"]
    assert thanks["Message-ID"] == f"<thank_you.{referral_id}@practice.example>"
    assert thanks["Message-ID"] != first["Message-ID"]


def test_no_phi_in_any_header(tmp_path: Path) -> None:
    raw = message().as_bytes().split(b"\r\n\r\n", 1)[0]
    for phi in (b"Ada", b"Lovelace", b"Hopper", b"Harbor Family", b"1980"):
        assert phi not in raw


async def test_five_sends_use_one_connection(mailer: SmtpMailer, sink: MailSink) -> None:
    for _ in range(5):
        await mailer.send(message())
    assert len(sink.files()) == 5
    assert sink.connections == 1
    assert mailer.connects == 1


async def test_an_idle_connection_is_checked_and_reused(sink: MailSink) -> None:
    async with SmtpMailer(smtp_settings(sink), idle_check_s=0.0) as mailer:
        for _ in range(3):
            await mailer.send(message())
    assert (sink.connections, len(sink.files())) == (1, 3)


async def test_header_injection_reaches_nobody_else(mailer: SmtpMailer, sink: MailSink) -> None:
    names = {
        "patient": referral_body()["patient"] | {"given_name": f"Ada{INJECTION}"},
        "referring_provider": {"name": f"Dr. Hopper{INJECTION}", "npi": "1234567893"},
        "referring_clinic": referral_body()["referring_clinic"] | {"name": f"Harbor{INJECTION}"},
    }
    subject = f"Consult report RL-XXXX =?UTF-8?Q?=0A?=Bcc: x@example.org{INJECTION}"
    await mailer.send(message(make_letter(**names), Rendered(subject, "Text.", None)))
    [path] = sink.files()
    [received] = sink.messages()
    assert received.get_all("X-Envelope-To") == ["<reports@harbor.example>"]
    assert received["Bcc"] is None
    assert b"\nBcc:" not in header_block(path)
    assert "=?" not in received["Subject"]
    assert "\n" not in received["Subject"]


@pytest.mark.parametrize(
    "to", ["a@b.org, c@d.org", "x", "Clinic <a@b.org>", f"a@b.org{INJECTION}", "", "ré@exämple.org"]
)
async def test_a_bad_recipient_raises_and_sends_nothing(to: str, mailer: SmtpMailer, sink: MailSink) -> None:
    with pytest.raises(BadAddress):
        message(make_letter(to=to))
    assert (sink.connections, sink.files()) == (0, [])


async def test_send_refuses_more_than_one_recipient(mailer: SmtpMailer, sink: MailSink) -> None:
    msg = message()
    msg["Bcc"] = "x@example.org"
    with pytest.raises(BadAddress):
        await mailer.send(msg)
    assert (sink.connections, sink.files()) == (0, [])


async def test_starttls_required_but_not_offered(sink: MailSink) -> None:
    async with SmtpMailer(smtp_settings(sink, smtp_tls="starttls")) as mailer:
        with pytest.raises(TlsUnavailable) as failure:
            await mailer.send(message())
    assert isinstance(failure.value, TransientFailure)
    assert sink.files() == []


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "tls"])
async def test_tls_with_the_right_ca_delivers(
    implicit: bool, tmp_path: Path, server_tls: ssl.SSLContext, ca_file: Path
) -> None:
    with MailSink(tmp_path / "mail", tls_context=server_tls, require_tls=True, implicit_tls=implicit) as sink:
        mode = "tls" if implicit else "starttls"
        async with SmtpMailer(smtp_settings(sink, smtp_tls=mode, smtp_ca_file=ca_file)) as mailer:
            await mailer.send(message())
        assert len(sink.files()) == 1


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "tls"])
async def test_tls_with_a_wrong_ca_fails_and_sends_nothing(
    implicit: bool, tmp_path: Path, server_tls: ssl.SSLContext
) -> None:
    wrong = tmp_path / "wrong-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(wrong))
    with MailSink(tmp_path / "mail", tls_context=server_tls, implicit_tls=implicit) as sink:
        mode = "tls" if implicit else "starttls"
        async with SmtpMailer(smtp_settings(sink, smtp_tls=mode, smtp_ca_file=wrong)) as mailer:
            with pytest.raises(TlsUnavailable):
                await mailer.send(message())
        assert sink.files() == []


@pytest.mark.parametrize(("password", "delivered"), [("s3cret", True), ("wrong", False)])
async def test_authentication(
    password: str, delivered: bool, tmp_path: Path, server_tls: ssl.SSLContext, ca_file: Path
) -> None:
    with MailSink(tmp_path / "mail", tls_context=server_tls, auth=("mailer", "s3cret")) as sink:
        credentials = {"smtp_username": "mailer", "smtp_password": SecretStr(password)}
        settings = smtp_settings(sink, smtp_tls="starttls", smtp_ca_file=ca_file, **credentials)
        async with SmtpMailer(settings) as mailer:
            if delivered:
                await mailer.send(message())
            else:
                with pytest.raises(AuthRejected):
                    await mailer.send(message())
        assert len(sink.files()) == int(delivered)


async def test_without_authentication_a_sink_requiring_it_refuses(tmp_path: Path) -> None:
    with MailSink(tmp_path / "mail", auth=("mailer", "s3cret")) as sink:
        async with SmtpMailer(smtp_settings(sink)) as mailer:
            with pytest.raises(TransientFailure, match="530"):
                await mailer.send(message())
        assert sink.files() == []


@pytest.mark.parametrize(
    ("refusal", "failure"),
    [("451 4.3.0 try later", TransientFailure), ("550 5.1.1 no such user", PermanentFailure)],
)
async def test_a_refused_message_fails_and_the_next_one_goes(
    refusal: str, failure: type[Exception], mailer: SmtpMailer, sink: MailSink
) -> None:
    sink.refuse_with = refusal
    with pytest.raises(failure, match=refusal.split()[0]) as raised:
        await mailer.send(message())
    assert isinstance(raised.value, TransientFailure) == (failure is TransientFailure)
    assert sink.files() == []
    sink.refuse_with = None
    await mailer.send(message())
    assert len(sink.files()) == 1
    assert mailer.connects == 1  # a refusal leaves the connection usable


async def test_a_lost_reply_is_transient_though_the_message_arrived(
    mailer: SmtpMailer, sink: MailSink
) -> None:
    sink.drop_after_data = True
    with pytest.raises(TransientFailure):
        await mailer.send(message())
    assert len(sink.files()) == 1
    sink.drop_after_data = False
    await mailer.send(message())
    assert (len(sink.files()), mailer.connects) == (2, 2)


async def test_a_stopped_sink_is_transient_and_the_mailer_reconnects(
    mailer: SmtpMailer, sink: MailSink
) -> None:
    await mailer.send(message())
    sink.stop()
    with pytest.raises(TransientFailure):
        await mailer.send(message())
    sink.start()
    await mailer.send(message())
    assert len(sink.files()) == 2
    assert mailer.connects == 2
