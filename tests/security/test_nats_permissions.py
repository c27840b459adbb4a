"""NATS access control (HIPAA 164.312(a), (d)): attacks on a real nats-server run as the services
run it. Nobody gets in without a known nkey; each service's user is refused, by the server,
anything outside its role: intake announcing a report, any service deleting or purging a stream,
reading the facts (PHI) it has no business reading, or listening to another service's replies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client

from contracts import bus
from contracts.events import Delivery, ReportSent
from launcher.natsd import NatsServer
from referral_loop.messaging import nats_auth
from referral_loop.messaging.bus import connect, declare_referral_streams, ensure_consumer
from referral_loop.messaging.nats_auth import ADMIN, FEEDBACK, INTAKE, SERVICES, STORE_WRITER
from referral_loop.messaging.publisher import BusUnavailable, FactPublisher
from referral_loop.settings import Settings
from tests.support import referrals as make
from tests.support.bus import Refusals, declare_all, publish, violation
from tests.support.servers import start_secured_nats


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Settings]:
    """Settings of a started nats-server with the services' users, the seeds where services look."""
    server, secrets = start_secured_nats(tmp_path)
    try:
        yield Settings(data_dir=tmp_path, nats_url=server.url, nats_secrets_dir=secrets)
    finally:
        server.stop()


async def connect_as(settings: Settings, role: str, refusals: Refusals | None = None) -> Client:
    """Connected exactly as the service `role` connects (referral_loop.messaging.bus.connect, its own seed)."""
    options = {"allow_reconnect": False, "max_reconnect_attempts": 0}
    return await connect(settings, role, error_cb=(refusals or Refusals()).record, **options)


@pytest.fixture
async def admin(secured: Settings) -> AsyncIterator[Client]:
    """The operator's connection, with the streams and the store writer's consumer declared."""
    nc = await connect_as(secured, ADMIN)
    await declare_all(nc.jetstream(), secured)
    yield nc
    await nc.close()


async def test_anonymous_and_unknown_users_are_refused(secured: Settings, tmp_path: Path) -> None:
    quiet = Refusals()
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(
            secured.nats_url, allow_reconnect=False, max_reconnect_attempts=0, error_cb=quiet.record
        )
    stranger = tmp_path / "stranger.nk"
    stranger.write_bytes(nats_auth.new_seed())
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await connect_as(secured.model_copy(update={"nats_nkey_file": stranger}), INTAKE, quiet)


async def test_intake_cannot_announce_that_a_report_was_sent(secured: Settings, admin: Client) -> None:
    """Were intake's credentials stolen, they still could not close a loop that was never closed:
    the forged ReportSent is dropped by the server and never reaches the stream."""
    refusals = Refusals()
    intake = await connect_as(secured, INTAKE, refusals)
    received = make.received()
    await FactPublisher(intake, timeout_s=10.0).publish(received)  # what intake is there for
    forged = ReportSent.new(
        received.referral_id, Delivery(message_id="<forged@x>", sent_to="reports@harbor.example"), make.STAFF
    )
    with pytest.raises(BusUnavailable):  # no PubAck: the server dropped it
        await FactPublisher(intake, timeout_s=1.0).publish(forged)
    assert await refusals.heard() == [violation("publish", "referrals.ReportSent")]
    await intake.close()
    stream = admin.jetstream()
    assert (await stream.stream_info(bus.STREAM)).state.messages == 1
    assert (await stream.get_msg(bus.STREAM, 1)).subject == "referrals.ReferralReceived"


@pytest.mark.parametrize("role", SERVICES)
async def test_no_service_may_delete_or_purge_a_stream(role: str, secured: Settings, admin: Client) -> None:
    await publish(admin.jetstream(), make.received())
    refusals = Refusals()
    attacker = await connect_as(secured, role, refusals)
    js = attacker.jetstream(timeout=0.5)
    attacks = (
        (js.delete_stream, (bus.STREAM,), f"$JS.API.STREAM.DELETE.{bus.STREAM}"),
        (js.purge_stream, (bus.STREAM,), f"$JS.API.STREAM.PURGE.{bus.STREAM}"),
        (js.delete_stream, (bus.DEADLETTER_STREAM,), f"$JS.API.STREAM.DELETE.{bus.DEADLETTER_STREAM}"),
        (
            js.delete_consumer,
            (bus.STREAM, bus.STORE_WRITER),
            f"$JS.API.CONSUMER.DELETE.{bus.STREAM}.store-writer",
        ),
    )
    for attack, args, _ in attacks:
        with pytest.raises(nats.errors.TimeoutError):  # the request never reached JetStream
            await attack(*args)
    expected = [violation("publish", subject) for _, _, subject in attacks]
    assert await refusals.heard(len(attacks)) == expected
    await attacker.close()
    stream = admin.jetstream()
    assert (await stream.stream_info(bus.STREAM)).state.messages == 1
    assert (await stream.consumer_info(bus.STREAM, bus.STORE_WRITER)).num_pending == 1
    await stream.stream_info(bus.DEADLETTER_STREAM)


FORBIDDEN = [
    (INTAKE, "publish", "referrals.ThankYouSent"),
    (INTAKE, "publish", "referrals.PatientForgotten"),  # only the operator's forget-patient erases
    (INTAKE, "publish", f"$JS.API.CONSUMER.MSG.NEXT.{bus.STREAM}.store-writer"),  # read the facts
    (INTAKE, "publish", f"$JS.API.STREAM.MSG.GET.{bus.STREAM}"),
    (INTAKE, "publish", "$JS.API.STREAM.CREATE.EXFILTRATE"),
    (INTAKE, "subscribe", "referrals.>"),  # a live copy of every fact
    (INTAKE, "subscribe", "_INBOX.>"),
    (INTAKE, "subscribe", "_INBOX_store-writer.>"),  # the writer's fetched facts arrive there
    (FEEDBACK, "publish", "referrals.ReferralReceived"),
    (FEEDBACK, "publish", "referrals.PatientSeen"),
    (FEEDBACK, "publish", "referrals.PatientForgotten"),
    (FEEDBACK, "publish", f"$JS.API.STREAM.MSG.GET.{bus.STREAM}"),
    (FEEDBACK, "subscribe", ">"),
    (STORE_WRITER, "publish", "referrals.ReferralReceived"),
    (STORE_WRITER, "publish", "referrals.ReportSent"),
    (STORE_WRITER, "publish", f"$JS.API.STREAM.MSG.DELETE.{bus.STREAM}"),
    (STORE_WRITER, "publish", f"$JS.API.CONSUMER.CREATE.{bus.STREAM}.shadow"),  # a second reader
    (STORE_WRITER, "subscribe", "_INBOX_intake.>"),
]


@pytest.mark.parametrize(("role", "action", "subject"), FORBIDDEN)
async def test_a_service_is_refused_what_its_role_does_not_need(
    role: str, action: str, subject: str, secured: Settings, admin: Client
) -> None:
    refusals = Refusals()
    nc = await connect_as(secured, role, refusals)
    if action == "publish":
        await nc.publish(subject, b"{}")
    else:
        await nc.subscribe(subject)
    kind = "publish" if action == "publish" else "subscription"
    assert await refusals.heard() == [violation(kind, subject)]
    await nc.close()
    assert (await admin.jetstream().stream_info(bus.STREAM)).state.messages == 0


def test_the_allow_lists_cover_what_each_service_publishes() -> None:
    """The other side of least privilege: every fact intake's API or feedback can publish is
    allowed to it (the end-to-end stack test runs them for real)."""
    from services.feedback.drafting import DEADLINE_FACTS, SENT_FACTS
    from services.intake.api import LIFECYCLE

    intake = {c.model_fields["type"].default for c, _, _ in LIFECYCLE.values()} | {"ReferralReceived"}
    feedback = {c.model_fields["type"].default for c in (*SENT_FACTS.values(), *DEADLINE_FACTS.values())}
    allowed = {role: set(nats_auth.publish_allowed(role)) for role in SERVICES}
    assert {bus.subject_for(t) for t in intake} <= allowed[INTAKE]
    assert {bus.subject_for(t) for t in [*feedback, "FeedbackFailed", "ReportLate"]} <= allowed[FEEDBACK]
    assert not any(s.startswith(f"{bus.SUBJECT_PREFIX}.") for s in allowed[STORE_WRITER])


def test_a_server_with_users_has_no_anonymous_user(tmp_path: Path) -> None:
    config = NatsServer(store_dir=tmp_path / "other", users={INTAKE: "UXXX"}).config_text()
    assert "authorization {" in config and "no_auth_user" not in config


async def test_the_store_writer_and_feedback_can_do_all_their_jobs_need(secured: Settings) -> None:
    """The writer's and feedback's start-up and work, call for call as their code makes them
    (declare, consumer, fetch, ack, dead-letter, gauges; announce), refused nothing."""
    refusals = Refusals()
    writer = await connect_as(secured, STORE_WRITER, refusals)
    feedback = await connect_as(secured, FEEDBACK, refusals)
    js = writer.jetstream()
    await declare_referral_streams(feedback.jetstream(), secured)
    await declare_referral_streams(js, secured)
    await ensure_consumer(js, bus.STREAM, bus.store_writer_consumer())
    received = make.received()
    announced = await FactPublisher(feedback).publish_many([make.seen(received.referral_id)])
    assert isinstance(announced[0], BusUnavailable), "feedback may not say a patient was seen"
    sent = ReportSent.new(
        received.referral_id, Delivery(message_id="<r@x>", sent_to="a@b.example"), make.STAFF
    )
    (announced_sent,) = await FactPublisher(feedback, timeout_s=10.0).publish_many([sent])
    assert not isinstance(announced_sent, BusUnavailable)
    sub = await js.pull_subscribe_bind(durable=bus.STORE_WRITER, stream=bus.STREAM)
    (msg,) = await sub.fetch(1, timeout=5)
    await msg.in_progress()
    await js.publish(bus.deadletter_subject(msg.subject), msg.data, headers={bus.REASON_HEADER: "test"})
    await msg.ack_sync()
    assert (await js.consumer_info(bus.STREAM, bus.STORE_WRITER)).num_ack_pending == 0
    assert (await js.stream_info(bus.DEADLETTER_STREAM)).state.messages == 1
    assert await refusals.heard() == [violation("publish", "referrals.PatientSeen")]
    await writer.close()
    await feedback.close()
