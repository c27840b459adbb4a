"""Each service process answers /healthz, /readyz and /metrics from its real dependencies: readiness
fails when NATS or SMTP goes away, and the metrics follow the work (lag, dead letters, backlog)."""

from __future__ import annotations

import signal
from datetime import date, timedelta
from pathlib import Path
from uuid import uuid4

import nats

from contracts import bus
from launcher.mailsink import MailSink
from referral_loop.settings import Settings
from tests.ops.support import get, metric, readiness, seed, wait_ready
from tests.support import referrals as make
from tests.support.bus import declare_all, publish
from tests.support.processes import ProcessRegistry, free_port, wait_until
from tests.support.servers import NatsServer


def base(tmp_path: Path, nats_server: NatsServer, **update: object) -> Settings:
    settings = Settings(data_dir=tmp_path, nats_url=nats_server.url, smtp_tls="none", **update)  # type: ignore[arg-type]
    return settings


async def test_store_writer_ready_counts_facts_and_dead_letters_then_not_ready_without_nats(
    tmp_path: Path, nats_server: NatsServer, services: ProcessRegistry
) -> None:
    port = free_port()
    writer = services.start("store-writer", base(tmp_path, nats_server, store_writer_ops_port=port))
    assert set(wait_ready(port)) == {"nats", "streams", "store"}
    nc = await nats.connect(nats_server.url)
    try:
        await declare_all(nc.jetstream(), Settings())
        for _ in range(5):
            await publish(nc.jetstream(), make.received(uuid4()))
        await nc.jetstream().publish(f"{bus.SUBJECT_PREFIX}.ReferralReceived", b"{not json")
    finally:
        await nc.close()
    recorded = lambda: metric(port, "referral_loop_facts_total", outcome="recorded") == 5  # noqa: E731
    wait_until(recorded, 30, "5 facts recorded")
    wait_until(lambda: metric(port, "referral_loop_deadletter_messages") == 1, 30, "1 dead letter")
    assert metric(port, "referral_loop_facts_dead_lettered_total") == 1
    assert metric(port, "referral_loop_consumer_lag", consumer="store-writer") == 0
    assert metric(port, "referral_loop_nats_connected") == 1

    nats_server.stop()
    wait_until(lambda: readiness(port)[0] == 503, 30, "not ready without NATS")
    _, checks = readiness(port)
    assert checks["nats"] == (False, "not connected to NATS") and checks["store"] == (True, "")
    assert get(port, "/healthz") == (200, "ok")
    assert metric(port, "referral_loop_nats_connected") == 0
    assert writer.stop(signal.SIGTERM) == 0


async def test_feedback_counts_retries_and_reports_at_risk_and_is_not_ready_without_smtp(
    tmp_path: Path, nats_server: NatsServer, services: ProcessRegistry
) -> None:
    with MailSink(tmp_path / "mail") as sink:
        sink.refuse_with = "451 4.3.0 try later"
        port = free_port()
        settings = base(tmp_path, nats_server, smtp_port=sink.port, feedback_ops_port=port, smtp_check_s=0.2)
        rid = uuid4()
        visit = (date.today() - timedelta(days=30)).isoformat()  # the report is overdue at once
        seed(settings, [make.received(rid, return_visit_on=visit), make.seen(rid)])
        feedback = services.start("feedback", settings)
        checks = wait_ready(port)
        assert set(checks) == {"nats", "streams", "referral_store", "feedback_store", "smtp", "quarantine"}
        overdue = lambda: metric(port, "referral_loop_reports_at_risk", state="overdue") == 1  # noqa: E731
        wait_until(overdue, 30, "the report overdue and not sent")
        retried = lambda: (metric(port, "referral_loop_emails_total", outcome="retry") or 0) >= 2  # noqa: E731
        wait_until(retried, 30, "the report and the thank-you retried")
        assert (metric(port, "referral_loop_outbox_sends", state="waiting") or 0) >= 2
        assert metric(port, "referral_loop_follower_lag", follower="feedback") == 0
        assert metric(port, "referral_loop_store_position") == 2
        sink.stop()
        wait_until(lambda: readiness(port)[0] == 503, 30, "not ready without SMTP")
        ok, reason = readiness(port)[1]["smtp"]
        assert not ok and reason.startswith(f"SMTP 127.0.0.1:{sink.port} unreachable")
        assert feedback.stop(signal.SIGTERM) == 0


async def test_intake_and_projections_answer_readiness_and_metrics(
    tmp_path: Path, nats_server: NatsServer, services: ProcessRegistry
) -> None:
    settings = base(tmp_path, nats_server, intake_port=free_port(), ops_port=free_port())
    rids = [uuid4() for _ in range(3)]
    seed(settings, [make.received(rid) for rid in rids])
    projections = services.start("projections", settings)
    intake = services.start("intake", settings)
    assert set(wait_ready(settings.ops_port)) == {"referral_store", "views", "quarantine"}
    assert metric(settings.ops_port, "referral_loop_quarantined_facts", follower="projections") == 0
    wait_until(lambda: readiness(settings.intake_port)[0] == 503, 30, "intake answering")
    assert readiness(settings.intake_port)[1]["streams"] == (False, "stream REFERRALS missing")
    nc = await nats.connect(nats_server.url)
    try:
        await declare_all(nc.jetstream(), Settings())
    finally:
        await nc.close()
    assert set(wait_ready(settings.intake_port)) == {"nats", "streams", "store", "audit"}
    assert metric(settings.intake_port, "referral_loop_nats_connected") == 1
    caught_up = lambda: metric(settings.ops_port, "referral_loop_follower_lag", follower="projections") == 0  # noqa: E731
    wait_until(caught_up, 30, "the views caught up")
    assert metric(settings.ops_port, "referral_loop_store_position") == 3
    assert intake.stop(signal.SIGTERM) == 0 and projections.stop(signal.SIGTERM) == 0
