"""Each readiness check asks its real dependency: nats-server, the SQLite or PostgreSQL store, SMTP."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import nats

from contracts import bus
from launcher.mailsink import MailSink
from launcher.natsd import free_port
from referral_loop.messaging.bus import declare_referral_streams
from referral_loop.ops import checks, stores, threads
from referral_loop.ops.checks import outcome
from referral_loop.ops.smtp import SmtpReachability
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from tests.support.servers import NatsServer


async def test_nats_and_streams_checks_ask_the_server(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        connected = checks.nats_connected(lambda: nc)
        streams = checks.streams_present(lambda: nc, [bus.STREAM, bus.DEADLETTER_STREAM])
        assert (await outcome(connected))["ok"]
        assert await outcome(streams) == {
            "name": "streams",
            "ok": False,
            "reason": "stream REFERRALS missing",
        }
        await declare_referral_streams(nc.jetstream(), Settings())
        assert (await outcome(streams))["ok"]
    finally:
        await nc.close()
    assert (await outcome(connected))["reason"] == "not connected to NATS"
    assert (await outcome(checks.nats_connected(lambda: None)))["reason"] == "not connected to NATS"


async def test_the_store_is_writable_and_readable_on_each_backend(store_settings: Settings) -> None:
    ledger = open_ledger(store_settings)
    try:
        for check in (
            checks.blocking("store", lambda: stores.writable(ledger.recorder)),
            checks.blocking("store", lambda: stores.readable(ledger.recorder)),
        ):
            assert await outcome(check) == {"name": "store", "ok": True, "reason": ""}
        assert stores.position(ledger.recorder) == 0  # the check wrote nothing
    finally:
        ledger.close()


async def test_a_store_whose_write_lock_cannot_be_had_is_not_writable(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, sqlite_path=tmp_path / "store.sqlite")
    ledger = open_ledger(settings)
    holder = sqlite3.connect(settings.sqlite_file, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        check = checks.blocking("store", lambda: stores.writable(ledger.recorder), timeout_s=0.5)
        assert await outcome(check) == {"name": "store", "ok": False, "reason": "no answer within 0.5 s"}
        readable = checks.blocking("store", lambda: stores.readable(ledger.recorder), timeout_s=0.5)
        holder.execute("ROLLBACK")
        assert (await outcome(readable))["ok"] and (await outcome(check))["ok"]
    finally:
        holder.close()
        await threads.finished()  # the probe that timed out, before its store is closed
        ledger.close()


async def test_smtp_reachability_is_asked_once_per_interval(tmp_path: Path) -> None:
    with MailSink(tmp_path / "mail") as sink:
        settings = Settings(smtp_port=sink.port, smtp_tls="none", smtp_check_s=60)
        smtp = SmtpReachability(settings)
        assert await outcome(smtp.check()) == {"name": "smtp", "ok": True, "reason": ""}
        assert await outcome(smtp.check()) == {"name": "smtp", "ok": True, "reason": ""}
        assert sink.connections == 1 and sink.files() == []
    closed = free_port()
    down = SmtpReachability(Settings(smtp_port=closed, smtp_tls="none", smtp_timeout_s=2))
    result = await outcome(down.check())
    assert not result["ok"] and result["reason"].startswith(f"SMTP 127.0.0.1:{closed} unreachable")


async def test_smtp_requiring_starttls_that_is_not_offered_is_not_reachable(tmp_path: Path) -> None:
    with MailSink(tmp_path / "mail") as sink:
        smtp = SmtpReachability(Settings(smtp_port=sink.port, smtp_tls="starttls", smtp_timeout_s=2))
        result = await outcome(smtp.check())
        assert not result["ok"] and "SMTP 127.0.0.1" in result["reason"]
