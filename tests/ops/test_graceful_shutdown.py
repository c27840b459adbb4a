"""SIGTERM under load: each service stops taking work, drains what it has in flight, exits 0, and
nothing is lost or done twice once it (or its successor) goes on."""

from __future__ import annotations

import signal
import sqlite3
import threading
from collections import Counter
from pathlib import Path
from uuid import uuid4

import nats

from launcher.mailsink import MailSink
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.web.users import ensure_local_users
from tests.ops.support import metric, seed, wait_ready
from tests.support import referrals as make
from tests.support.bus import declare_all, publish
from tests.support.processes import ProcessRegistry, free_port, wait_until
from tests.support.servers import NatsServer
from tests.support.store import all_recorded, recorded_event_ids
from tests.support.submitting import keep_submitting


def recorded(settings: Settings) -> Counter[str]:
    ledger = open_ledger(settings)
    try:
        return recorded_event_ids(ledger)
    finally:
        ledger.close()


async def test_store_writer_stops_after_its_batch_exits_0_and_its_successor_loses_nothing(
    tmp_path: Path, nats_server: NatsServer, services: ProcessRegistry
) -> None:
    settings = Settings(data_dir=tmp_path, nats_url=nats_server.url, writer_batch=50)
    facts = [make.received(uuid4()) for _ in range(1500)]
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        await declare_all(js, settings)
        for fact in facts:
            await publish(js, fact)
        writer = services.start("store-writer", settings)
        wait_until(lambda: len(recorded(settings)) >= 100, 60, "the writer under way")
        assert writer.stop(signal.SIGTERM) == 0, writer.log_text()[-2000:]
        services.start("store-writer", settings)
        wait_until(lambda: len(recorded(settings)) == len(facts), 90, "every fact recorded")
    finally:
        await nc.close()
    counts = recorded(settings)
    assert set(counts) == {str(f.event_id) for f in facts} and set(counts.values()) == {1}


async def test_feedback_finishes_the_batch_being_sent_and_records_it_before_exiting_0(
    tmp_path: Path, nats_server: NatsServer, services: ProcessRegistry
) -> None:
    with MailSink(tmp_path / "mail") as sink:
        sink.data_delay_s = 0.05  # each send takes a while: SIGTERM lands mid-batch
        settings = Settings(data_dir=tmp_path, nats_url=nats_server.url, smtp_port=sink.port, smtp_tls="none")
        rids = [uuid4() for _ in range(150)]
        seed(settings, [make.received(rid) for rid in rids])
        feedback = services.start("feedback", settings)
        wait_until(lambda: len(sink.files()) >= 10, 60, "acknowledgements going out")
        assert feedback.stop(signal.SIGTERM) == 0, feedback.log_text()[-2000:]
        sent_before = len(sink.files())
        sink.data_delay_s = 0.0
        services.start("feedback", settings)
        wait_until(lambda: len(sink.files()) >= len(rids), 60, "every acknowledgement sent")
        wait_until(lambda: len(sink.files()) == len(rids), 5, "no acknowledgement sent twice")
    ids = Counter(str(m["Message-ID"]) for m in sink.messages())
    assert len(ids) == len(rids) and set(ids.values()) == {1}  # none delivered and left unrecorded
    assert sent_before >= 10


async def test_intake_answers_the_requests_in_flight_and_every_202_is_recorded(
    tmp_path: Path, nats_server: NatsServer, services: ProcessRegistry
) -> None:
    settings = Settings(data_dir=tmp_path, nats_url=nats_server.url, intake_port=free_port())
    password = ensure_local_users(settings.users_path)["intake"]["password"]
    services.start("store-writer", settings).wait_for_log("store writer recording", timeout=30)
    intake = services.start("intake", settings)
    wait_ready(settings.intake_port)
    accepted: list[str] = []
    other: list[int] = []

    load = (settings.base_url, password, accepted, other)
    clients = [threading.Thread(target=keep_submitting, args=load) for _ in range(4)]
    for client in clients:
        client.start()
    wait_until(lambda: len(accepted) >= 40, 60, "submissions under way")
    assert intake.stop(signal.SIGTERM) == 0, intake.log_text()[-2000:]
    for client in clients:
        client.join(30)
    assert other == []
    wanted = set(accepted)
    wait_until(lambda: all_recorded(settings, wanted), 60, "every acknowledged referral in the store")


async def test_projections_stop_between_pages_and_go_on_from_there(
    tmp_path: Path, nats_server: NatsServer, services: ProcessRegistry
) -> None:
    settings = Settings(data_dir=tmp_path, nats_url=nats_server.url, ops_port=free_port())
    rids = [uuid4() for _ in range(3000)]
    seed(settings, [make.received(rid) for rid in rids])
    projections = services.start("projections", settings)
    wait_ready(settings.ops_port)
    assert projections.stop(signal.SIGTERM) == 0, projections.log_text()[-2000:]
    services.start("projections", settings)
    wait_ready(settings.ops_port)
    lag = lambda: metric(settings.ops_port, "referral_loop_follower_lag", follower="projections")  # noqa: E731
    wait_until(lambda: lag() == 0, 60, "the views caught up")
    with sqlite3.connect(settings.views_sqlite_file) as views:
        assert views.execute("SELECT count(*) FROM referral_view").fetchone()[0] == len(rids)
