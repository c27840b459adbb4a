"""Attacks on email transport security: an untrusted or misnamed certificate, a server that does not
offer STARTTLS (or refuses it), and cleartext SMTP configured towards another machine."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import trustme
from pydantic import ValidationError

from launcher.mailsink import MailSink
from referral_loop.settings import Settings
from services.feedback.mailer import InsecureTransport, SmtpMailer
from services.feedback.message import TlsUnavailable
from tests.feedback.harness import feedback_settings, running_loop
from tests.feedback.test_mailer import make_letter, message
from tests.support import referrals as make
from tests.support.clock import FakeClock
from tests.support.servers import NatsServer

CANARY = "Zebulon Quixotefield"


def server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*(names or ("127.0.0.1", "localhost"))).configure_cert(context)
    return context


def ca_file(ca: trustme.CA, path: Path) -> Path:
    ca.cert_pem.write_to_path(str(path))
    return path


def mailer_settings(port: int, tls: str, cafile: Path | None = None) -> Settings:
    return Settings(
        smtp_host="127.0.0.1", smtp_port=port, smtp_tls=tls, smtp_ca_file=cafile, smtp_timeout_s=5
    )  # type: ignore[arg-type]


async def test_an_untrusted_certificate_gets_no_report_until_its_ca_is_configured(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    server_ca, other_ca = trustme.CA(), trustme.CA()
    clock = FakeClock(datetime(2026, 11, 22, 12, 0, tzinfo=UTC))
    with MailSink(tmp_path / "mail", tls_context=server_context(server_ca), require_tls=True) as sink:
        base = Settings(data_dir=tmp_path, acknowledge_referrals=False)
        wrong = feedback_settings(
            base,
            nats_server.url,
            sink,
            smtp_tls="starttls",
            smtp_ca_file=ca_file(other_ca, tmp_path / "o.pem"),
        )
        rid = uuid4()
        async with running_loop(wrong, sink, clock) as loop:
            await loop.publish(make.received(rid, patient=canary_patient()), make.seen(rid))
            await loop.until(
                lambda: (c := loop.parts.ledger.case(rid)) is not None and "report" in c.requested, "the case"
            )
            tries = sink.connections
            for _ in range(3):
                clock.advance(timedelta(minutes=2))
                await loop.settle()
            case = loop.parts.ledger.case(rid)
            assert case is not None and sink.connections > tries, "the letter is tried again"
            assert "report" not in case.sent and "report" not in case.failed, "neither sent nor given up"
            assert "ReportSent" not in loop.timeline(rid) and sink.files() == []
        right = wrong.model_copy(update={"smtp_ca_file": ca_file(server_ca, tmp_path / "s.pem")})
        async with running_loop(right, sink, clock) as loop:
            clock.advance(timedelta(minutes=2))
            await loop.until(
                lambda: "ReportSent" in loop.timeline(rid), "the report, once the CA is configured"
            )
            assert len(loop.mail("Consult report")) == 1


def canary_patient() -> dict[str, Any]:
    return {
        **make.referral_body()["patient"],
        "given_name": CANARY.split()[0],
        "family_name": CANARY.split()[1],
    }


@pytest.mark.parametrize("tls", ["starttls", "tls"])
async def test_a_trusted_certificate_for_another_host_name_is_refused(tls: str, tmp_path: Path) -> None:
    ca = trustme.CA()
    context = server_context(ca, "mail.elsewhere.example")
    with MailSink(tmp_path / "mail", tls_context=context, implicit_tls=tls == "tls") as sink:
        async with SmtpMailer(mailer_settings(sink.port, tls, ca_file(ca, tmp_path / "ca.pem"))) as mailer:
            with pytest.raises(TlsUnavailable):
                await mailer.send(message())
        assert sink.files() == []


class PlainSmtp:
    """A cleartext SMTP server that records every byte a client sends. `starttls`: None (not offered),
    or the reply to STARTTLS when it is offered (a downgrade: "454 TLS not available")."""

    def __init__(self, starttls: str | None) -> None:
        self.starttls, self.received = starttls, bytearray()
        self.server: asyncio.Server | None = None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 plain.example ESMTP\r\n")
        while line := await reader.readline():
            self.received += line
            verb = line[:4].upper()
            if verb == b"EHLO":
                offer = b"250-STARTTLS\r\n" if self.starttls else b""
                writer.write(b"250-plain.example\r\n" + offer + b"250 8BITMIME\r\n")
            elif verb == b"STAR":
                writer.write(f"{self.starttls}\r\n".encode())
            elif verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
            else:
                writer.write(b"221 bye\r\n" if verb == b"QUIT" else b"250 OK\r\n")
            await writer.drain()
        writer.close()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])


@pytest.fixture(params=[None, "454 4.7.0 TLS not available"], ids=["not-offered", "refused"])
async def plain(request: pytest.FixtureRequest) -> AsyncIterator[PlainSmtp]:
    server = PlainSmtp(request.param)
    server.server = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    async with server.server:
        yield server


@pytest.mark.parametrize("tls", ["starttls", "tls"])
async def test_a_server_without_tls_gets_no_envelope_and_no_content(tls: str, plain: PlainSmtp) -> None:
    letter = make_letter(patient=canary_patient())
    async with SmtpMailer(mailer_settings(plain.port, tls)) as mailer:
        with pytest.raises(TlsUnavailable):
            await mailer.send(message(letter))
    sent = bytes(plain.received)
    assert CANARY.split()[1].encode() not in sent
    for command in (b"MAIL FROM", b"RCPT TO", b"DATA", b"AUTH"):
        assert command not in sent.upper(), f"{command!r} sent in clear"


@pytest.mark.parametrize(
    "host", ["mail.example.org", "10.0.0.5", "0.0.0.0", "localhost.evil.example", "[::2]"]
)
def test_cleartext_smtp_to_another_machine_is_refused_by_settings_and_mailer(host: str) -> None:
    with pytest.raises(ValidationError, match="allowed only for a loopback SMTP host"):
        Settings(smtp_host=host, smtp_tls="none")
    copied = Settings(smtp_tls="none").model_copy(update={"smtp_host": host})  # model_copy skips validation
    with pytest.raises(InsecureTransport, match="loopback"):
        SmtpMailer(copied)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_cleartext_smtp_to_this_machine_is_allowed(host: str) -> None:
    assert SmtpMailer(Settings(smtp_host=host, smtp_tls="none")).settings.smtp_host == host


def test_a_named_development_mail_catcher_alone_may_take_cleartext() -> None:
    """compose's Mailpit on its private network: named in REFERRAL_LOOP_SMTP_PLAINTEXT_HOSTS, and only it."""
    allowed = Settings(smtp_host="mailpit", smtp_tls="none", smtp_plaintext_hosts="mailpit")
    assert SmtpMailer(allowed).settings.smtp_host == "mailpit"
    with pytest.raises(ValidationError, match="allowed only for a loopback SMTP host"):
        Settings(smtp_host="relay.example.org", smtp_tls="none", smtp_plaintext_hosts="mailpit")


def test_the_feedback_process_refuses_to_start_with_cleartext_smtp_to_another_machine(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFERRAL_LOOP_")}
    env |= {
        "REFERRAL_LOOP_DATA_DIR": str(tmp_path),
        "REFERRAL_LOOP_NATS_URL": "nats://127.0.0.1:1",  # never reached: it stops before connecting
        "REFERRAL_LOOP_SMTP_HOST": "mail.example.org",
        "REFERRAL_LOOP_SMTP_TLS": "none",
    }
    command = [sys.executable, "-m", "launcher.cli", "feedback"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert "REFERRAL_LOOP_SMTP_TLS=none is allowed only for a loopback SMTP host" in done.stderr
    assert not (tmp_path / "store").exists(), "nothing was opened"
