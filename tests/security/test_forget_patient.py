"""Erasure by crypto-shredding, attacked end to end: `forget-patient` against a real nats-server
(the services' users), the real store writer, on SQLite and PostgreSQL.

A canary patient with two referrals (one seen, one dead letter) and another patient go through
NATS into the store. Before the command, the canary is in the bytes of JetStream's files and the
canary's data key in the store's database files: the scans can find them. After it: PatientForgotten
is recorded on both referrals, both read with placeholders and the other patient intact, the
history replays, neither the canary nor the key is anywhere in those bytes, and the audit log
says who erased which referrals. Again: harmless. A fact the store writer has not recorded yet
stays in the stream (the store still needs it) until a later run. An unknown referral: exit 1.
(SQLite builds that keep freed bytes: test_forget_patient_residue.py.)
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from nats.aio.client import Client

from contracts import Fact, bus
from contracts.events import AppointmentCancelled, ConsultSummary, OptionalReason, PatientSeen
from contracts.forgetting import FORGOTTEN
from launcher.natsd import NatsServer
from referral_loop.messaging.bus import connect
from referral_loop.messaging.nats_auth import ADMIN, INTAKE, STORE_WRITER
from referral_loop.messaging.publisher import FactPublisher
from referral_loop.privacy import forgetting
from referral_loop.settings import Settings, settings_env
from referral_loop.store.config import connect_postgres, open_ledger
from referral_loop.store.follower import Recorded, read_page
from referral_loop.store.ledger import Positioned, ReferralLedger
from referral_loop.store.patient_keys import KEYS
from referral_loop.web.audit import AuditLog, AuditQuery
from services.store_writer.writer import StoreWriter
from tests.support import referrals as make
from tests.support.bus import dead_letters, declare_all
from tests.support.processes import base_env
from tests.support.servers import free_port, start_secured_nats

TOKEN = uuid4().hex[:10]
CANARIES = [f"Zyqa{TOKEN}", f"Wexo{TOKEN}", f"angina{TOKEN}", f"echo{TOKEN}", f"moved{TOKEN}"]
OTHER = f"Otto{TOKEN}"


@dataclass
class Stack:
    settings: Settings
    nats: NatsServer
    intake: Client
    admin: Client
    writer_nc: Client
    ledger: ReferralLedger
    writing: asyncio.Task[None] | None = None
    writer: StoreWriter | None = None

    def start_writer(self) -> None:
        self.writer = StoreWriter(self.writer_nc.jetstream(), self.ledger, 100, 0.05)
        self.writing = asyncio.create_task(self.writer.run())

    async def stop_writer(self) -> None:
        if self.writer and self.writing:
            self.writer.stopping.set()
            await asyncio.wait_for(self.writing, 10)
            self.writer = self.writing = None

    def nats_bytes_hold(self, text: str) -> bool:
        """Whether `text` is in any byte of JetStream's files (the streams' message blocks)."""
        return any(text.encode() in p.read_bytes() for p in self.nats.store_dir.rglob("*") if p.is_file())


class StoreBytes:
    """The referrals store's database as bytes on disk: SQLite's file, WAL and shared memory; or
    the PostgreSQL database's files, after a CHECKPOINT wrote out what was only in memory."""

    def __init__(self, settings: Settings, pgdata: Path | None) -> None:
        self.settings, self.pgdata = settings, pgdata

    def wrapped_key(self, key_id: str) -> str:
        """The data key as the keys table holds it (no store key here: the raw key, base64)."""
        sql = f"SELECT wrapped FROM {KEYS} WHERE key_id = ?"
        if self.pgdata is None:
            with closing(sqlite3.connect(self.settings.sqlite_file)) as connection:
                return str(connection.execute(sql, (key_id,)).fetchone()[0])
        with self._postgres() as connection:
            return str(connection.execute(sql.replace("?", "%s"), (key_id,)).fetchone()[0])

    def hold(self, text: str) -> bool:
        return any(text.encode() in path.read_bytes() for path in self._files())

    def _files(self) -> list[Path]:
        if self.pgdata is None:
            return list(self.settings.sqlite_file.parent.glob(f"{self.settings.sqlite_file.name}*"))
        with self._postgres() as connection:
            connection.execute("CHECKPOINT")
            oid = connection.execute(
                "SELECT oid FROM pg_database WHERE datname = current_database()"
            ).fetchone()
        return [p for p in (self.pgdata / "base" / str(oid[0])).rglob("*") if p.is_file()]

    def _postgres(self) -> psycopg.Connection[Any]:
        return connect_postgres(self.settings)


@pytest.fixture
async def stack(tmp_path: Path, store_settings: Settings) -> AsyncIterator[Stack]:
    async with opened_stack(tmp_path, store_settings) as opened:
        yield opened


@asynccontextmanager
async def opened_stack(tmp_path: Path, store_settings: Settings) -> AsyncIterator[Stack]:
    """Secured nats-server, the store writer (its own user) recording, intake's and the
    operator's connections. The nkeys are in `tmp_path/secrets/nats`: `make run`'s place when
    data_dir is tmp_path."""
    server, secrets = start_secured_nats(tmp_path)
    settings = store_settings.model_copy(update={"nats_url": server.url, "nats_secrets_dir": secrets})
    writer_nc = await connect(settings, STORE_WRITER)
    await declare_all(writer_nc.jetstream(), settings)
    intake, admin = await connect(settings, INTAKE), await connect(settings, ADMIN)
    stack = Stack(settings, server, intake, admin, writer_nc, open_ledger(settings))
    stack.start_writer()
    try:
        yield stack
    finally:
        await stack.stop_writer()
        for nc in (intake, admin, writer_nc):
            await nc.close()
        stack.ledger.close()
        server.stop()


def canary_facts(a: UUID, b: UUID) -> list[Fact]:
    patient = {"given_name": CANARIES[0], "family_name": CANARIES[1], "birth_date": date(1931, 7, 13)}
    summary = ConsultSummary(
        specialist="Dr. Byron", findings=CANARIES[3], assessment="a", plan="p", recommendations="r"
    )
    return [
        make.received(a, patient=patient, reason=f"Chest pain, {CANARIES[2]}."),
        make.received(b, patient=patient),
        PatientSeen.new(a, summary, make.STAFF),
        AppointmentCancelled.new(a, OptionalReason(reason=CANARIES[4]), make.STAFF),  # seen: a dead letter
    ]


async def settled(stack: Stack) -> None:
    """Until the store writer has settled (recorded or dead-lettered) every message published."""
    js = stack.admin.jetstream()

    async def done() -> bool:
        last = (await js.stream_info(bus.STREAM)).state.last_seq
        return (await js.consumer_info(bus.STREAM, bus.STORE_WRITER)).ack_floor.stream_seq >= last

    for _ in range(200):
        if await done():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the store writer did not settle what was published")


async def submitted(stack: Stack) -> tuple[UUID, UUID, UUID]:
    """The canary's referrals a and b, the other patient's; all settled by the writer."""
    a, b, other = uuid4(), uuid4(), uuid4()
    patient = {"given_name": OTHER, "family_name": "Smith", "birth_date": date(1950, 1, 2)}
    for fact in [*canary_facts(a, b), make.received(other, patient=patient), make.seen(other)]:
        await FactPublisher(stack.intake, timeout_s=5).publish(fact)
    await settled(stack)
    assert [subject for subject, _ in await dead_letters(stack.admin)] == [
        "deadletter.referrals.AppointmentCancelled"
    ]
    return a, b, other


def pgdata(request: pytest.FixtureRequest, settings: Settings) -> Path | None:
    return request.getfixturevalue("postgres_server").pgdata if settings.store == "postgres" else None


async def forget(stack: Stack, referral_id: UUID, wait_s: float = 20.0) -> int:
    """`forget-patient` as the operator runs it (its own process's event loop: a thread here)."""
    return await asyncio.to_thread(forgetting.main, stack.settings, referral_id, "privacy-officer", wait_s)


def assert_forgotten(reader: ReferralLedger, a: UUID, b: UUID, other: UUID) -> list[Recorded]:
    """Both referrals read with placeholders, PatientForgotten on each, the other patient whole;
    the whole history replays: every fact recorded."""
    page = read_page(reader, 0, 1000)
    received = {r.fact.referral_id: r.fact.data for r in page if r.fact.type == "ReferralReceived"}
    assert {rid: data.patient.given_name for rid, data in received.items()} == {
        a: FORGOTTEN,
        b: FORGOTTEN,
        other: OTHER,
    }
    assert received[a].reason == FORGOTTEN and received[other].patient.family_name == "Smith"
    assert [f.type for f in reader.timeline(a)] == ["ReferralReceived", "PatientSeen", "PatientForgotten"]
    assert [f.type for f in reader.timeline(b)] == ["ReferralReceived", "PatientForgotten"]
    assert reader.timeline(a)[1].data.findings == FORGOTTEN
    assert reader.timeline(other)[1].data.findings == "Normal echo."
    return page


async def test_forgetting_leaves_no_trace_in_the_store_files_nor_the_streams_and_history_replays(
    stack: Stack, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b, other = await submitted(stack)
    files = StoreBytes(stack.settings, pgdata(request, stack.settings))
    with closing(open_ledger(stack.settings)) as reader:
        key_ids = {r.patient_key_id for r in read_page(reader, 0, 10) if r.fact.referral_id in (a, b)}
        [key] = [files.wrapped_key(key_id) for key_id in key_ids if key_id]  # one key for both referrals
        assert files.hold(key), "the scan of the store's files finds the key before"
        assert [c for c in CANARIES if not stack.nats_bytes_hold(c)] == [], (
            "the scan of JetStream's finds them"
        )

        assert await forget(stack, b) == forgetting.EXIT_OK
        said = capsys.readouterr()
        assert [c for c in [*CANARIES, OTHER] if c in said.out + said.err] == [], "no PHI in what it prints"
        assert "messages erased from NATS: 4 from REFERRALS, 1 from REFERRALS_DEADLETTER" in said.out, (
            said.out
        )
        page = assert_forgotten(reader, a, b, other)
        assert [c for c in [key, *CANARIES] if files.hold(c)] == [], "in the store's files after"
        assert [c for c in CANARIES if stack.nats_bytes_hold(c)] == [], "in JetStream's files after"
        assert stack.nats_bytes_hold(OTHER), "the other patient's facts stay in the stream"
        entries = AuditLog(stack.settings, "test").query(AuditQuery(what="patient"))
        assert [(e.action, e.who, e.outcome, sorted(e.referral_ids)) for e in entries] == [
            ("erase", "privacy-officer", "allowed", sorted([str(a), str(b)]))
        ]

        assert await forget(stack, a) == forgetting.EXIT_OK, "again: harmless"
        again = capsys.readouterr().out
        assert "already forgotten" in again and "0 from REFERRALS, 0 from REFERRALS_DEADLETTER" in again
        assert assert_forgotten(reader, a, b, other) == page, "nothing recorded twice"


async def test_a_fact_the_writer_has_not_recorded_is_kept_until_a_run_after_it_has(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b, _ = await submitted(stack)
    await stack.stop_writer()
    await FactPublisher(stack.intake, timeout_s=5).publish(make.accepted(b))  # not recorded yet
    assert await forget(stack, a, wait_s=0.5) == forgetting.EXIT_INCOMPLETE
    said = capsys.readouterr().out
    assert (
        "4 from REFERRALS" in said and "INCOMPLETE" in said and "1 of their messages not yet settled" in said
    ), said
    stack.start_writer()
    await settled(stack)
    with closing(open_ledger(stack.settings)) as reader:
        assert [f.type for f in reader.timeline(b)] == [
            "ReferralReceived",
            "ReferralAccepted",
            "PatientForgotten",
        ]
    assert await forget(stack, a) == forgetting.EXIT_OK
    assert "1 from REFERRALS, 0 from REFERRALS_DEADLETTER" in capsys.readouterr().out


def test_an_unknown_referral_forgets_nobody_and_exits_non_zero(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, nats_url="nats://127.0.0.1:9")  # never reached
    unknown = uuid4()
    command = [sys.executable, "-m", "launcher.cli", "forget-patient", str(unknown), "--by", "dpo"]
    done = subprocess.run(
        command,
        env={**base_env(), **settings_env(settings)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == forgetting.EXIT_NOTHING, done.stderr
    assert f"no referral {unknown} in the store" in done.stderr and "nothing was forgotten" in done.stderr
    [entry] = AuditLog(settings, "test").query(AuditQuery())
    assert (entry.action, entry.outcome, entry.referral_ids) == ("erase", "failed", (str(unknown),))


def test_with_nats_down_nothing_is_forgotten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The facts could not go in, so the views and feedback would never hear: the key stays."""
    settings = Settings(data_dir=tmp_path, nats_url=f"nats://127.0.0.1:{free_port()}")
    received = make.received()
    with closing(open_ledger(settings)) as ledger:
        ledger.record_batch([Positioned(1, received)])
    assert forgetting.main(settings, received.referral_id, "dpo") == forgetting.EXIT_NOTHING
    assert "cannot connect to NATS" in capsys.readouterr().err
    with closing(open_ledger(settings)) as ledger:
        assert forgetting.key_state(ledger, received.referral_id) == forgetting.KeyState.LIVE
