"""The embedded SMTP sink over a real socket (stdlib smtplib as the client): storage, envelope,
fault switches, authentication, STARTTLS, stopping, and `run_sink` as a process."""

from __future__ import annotations

import os
import re
import signal
import smtplib
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from launcher.maildir import message_id_hash, write_atomically
from launcher.mailsink import MailSink
from launcher.natsd import free_port, tcp_open

RAW = (
    b"From: Practice <referrals@practice.example>\r\n"
    b"To: reports@harbor.example\r\n"
    b"Subject: Consult report RL-0001\r\n"
    b"Message-ID: <report.1@practice.example>\r\n"
    b"\r\n"
    b"Hello.\r\n"
    b".A line that starts with a dot.\r\n"
)
FILE_NAME = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-\d{6}-[0-9a-f]{12}\.eml$")


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[MailSink]:
    with MailSink(tmp_path / "mail") as started:
        yield started


def client(sink: MailSink) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", sink.port, timeout=5)


def send(sink: MailSink, rcpts: list[str] | None = None, raw: bytes = RAW) -> None:
    with client(sink) as smtp:
        smtp.sendmail("referrals@practice.example", rcpts or ["reports@harbor.example"], raw)


def test_a_message_is_stored_as_received_after_its_envelope(sink: MailSink) -> None:
    send(sink, ["reports@harbor.example", "copy@harbor.example"])
    [path] = sink.files()
    assert FILE_NAME.match(path.name)
    envelope = (
        b"Return-Path: <referrals@practice.example>\r\n"
        b"X-Envelope-To: <reports@harbor.example>\r\n"
        b"X-Envelope-To: <copy@harbor.example>\r\n"
    )
    assert path.read_bytes() == envelope + RAW
    assert [p.name for p in sink.directory.iterdir()] == [path.name]  # no temp file left


def test_the_file_name_hash_depends_on_the_message_id_header_alone(tmp_path: Path) -> None:
    same = RAW.replace(b"Hello.", b"Message-ID: <not.a.header@body>")
    assert message_id_hash(same) == message_id_hash(RAW) == message_id_hash(RAW.replace(b"\r\n", b"\n"))
    assert message_id_hash(RAW) != message_id_hash(b"Subject: none\r\n\r\n")
    write_atomically(tmp_path / "a.eml", RAW)
    assert [p.name for p in tmp_path.iterdir()] == ["a.eml"] and (tmp_path / "a.eml").read_bytes() == RAW


def test_messages_are_parsed_oldest_first(sink: MailSink) -> None:
    send(sink)
    send(sink, raw=RAW.replace(b"RL-0001", b"RL-0002").replace(b"report.1", b"report.2"))
    first, second = sink.messages()
    assert (first["Subject"], second["Subject"]) == ("Consult report RL-0001", "Consult report RL-0002")
    assert first.get_content() == "Hello.\n.A line that starts with a dot.\n"
    names = [path.name for path in sink.files()]
    assert names[0].split("-")[2] != names[1].split("-")[2]  # the Message-ID hash


def test_connections_are_counted(sink: MailSink) -> None:
    send(sink)
    send(sink)
    assert sink.connections == 2


@pytest.mark.parametrize("refusal", ["451 4.3.0 try later", "550 5.1.1 no such user"])
def test_refuse_with_answers_data_and_stores_nothing(sink: MailSink, refusal: str) -> None:
    sink.refuse_with = refusal
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(sink)
    assert refused.value.smtp_code == int(refusal[:3])
    assert sink.files() == []


def test_drop_after_data_stores_then_hangs_up_without_a_reply(sink: MailSink) -> None:
    sink.drop_after_data = True
    with pytest.raises(smtplib.SMTPServerDisconnected):
        send(sink)
    assert len(sink.files()) == 1


def test_authentication_is_required_when_configured(tmp_path: Path) -> None:
    with MailSink(tmp_path / "mail", auth=("mailer", "s3cret")) as sink:
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            send(sink)
        assert refused.value.smtp_code == 530
        with client(sink) as smtp, pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.login("mailer", "wrong")
        with client(sink) as smtp:
            smtp.login("mailer", "s3cret")
            smtp.sendmail("referrals@practice.example", ["reports@harbor.example"], RAW)
        assert len(sink.files()) == 1


def test_starttls_can_be_required(tmp_path: Path) -> None:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    with MailSink(tmp_path / "mail", tls_context=server, require_tls=True) as sink:
        with pytest.raises(smtplib.SMTPSenderRefused):
            send(sink)
        with client(sink) as smtp:
            smtp.starttls(context=trusting)
            smtp.sendmail("referrals@practice.example", ["reports@harbor.example"], RAW)
        assert len(sink.files()) == 1


def test_stop_closes_connections_and_the_port_and_start_reuses_it(sink: MailSink) -> None:
    threads = threading.active_count()
    port = sink.port
    with client(sink) as smtp:
        sink.stop()
        with pytest.raises(smtplib.SMTPServerDisconnected):
            smtp.noop()
    assert not tcp_open("127.0.0.1", port)
    assert threading.active_count() == threads - 1
    sink.start()
    assert sink.port == port
    send(sink)
    assert len(sink.files()) == 1


def test_run_sink_serves_the_mail_dir_until_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = os.environ | {"REFERRAL_LOOP_DATA_DIR": str(tmp_path), "REFERRAL_LOOP_MAIL_SINK_PORT": str(port)}
    code = "from launcher.mailsink import run_sink; from referral_loop.settings import Settings; run_sink(Settings())"
    process = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        deadline = time.monotonic() + 10
        while not tcp_open("127.0.0.1", port) and time.monotonic() < deadline:
            time.sleep(0.05)
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
            smtp.sendmail("referrals@practice.example", ["reports@harbor.example"], RAW)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert len(list((tmp_path / "mail").glob("*.eml"))) == 1
