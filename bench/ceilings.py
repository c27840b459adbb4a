"""Ceilings of the parts on this machine, each alone, in its own temp dir, stopped afterwards.

(a) JetStream publish+ack from Python against a real nats-server with `sync_interval: always`:
    awaited one at a time, gathered in batches of 100, and `js.publish_async` (nats-py >= 2.16);
(b) the event store's append (ReferralLedger.record_batch on SQLite, opened as the store writer
    opens it): micro-batches of 100, and of 1 (a commit per fact);
(c) SMTP sends with SmtpMailer over one connection to the embedded MailSink (no TLS).

Payloads are ReferralReceived facts (~1 KB of JSON), serialised or built before the clock starts.

    PYTHONPATH=. .venv/bin/python bench/ceilings.py [--n 10000] [--repeat 3]
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

from nats.js import JetStreamContext

from bench.common import (
    Outgoing,
    Summary,
    jetstream,
    ledger_append_rate,
    nats_server,
    outgoing,
    parser,
    received_facts,
    repeated,
    report,
    stream_last_seq,
)
from contracts.referral import Referral
from launcher.mailsink import MailSink
from referral_loop.settings import Settings
from services.feedback.letters import Kind, Letter, Practice, Rendered
from services.feedback.pool import MailerPool
from services.feedback.wire import outgoing as wire_message
from tests.support.referrals import referral_body

Publisher = Callable[[JetStreamContext, list[Outgoing]], Awaitable[None]]
PRACTICE = Practice(
    name="Referral Loop Specialty Clinic",
    address="1 Main St",
    phone="+15550100000",
    email="referrals@practice.example",
    ops_email="ops@practice.example",
)
RENDERED = Rendered(subject="Consult report", text="The report.\n" * 40, html="<p>The report.</p>" * 40)


async def one_at_a_time(js: JetStreamContext, msgs: list[Outgoing]) -> None:
    for m in msgs:
        await js.publish(m.subject, m.payload, headers=m.headers)


async def gathered_100(js: JetStreamContext, msgs: list[Outgoing]) -> None:
    for start in range(0, len(msgs), 100):
        chunk = msgs[start : start + 100]
        await asyncio.gather(*(js.publish(m.subject, m.payload, headers=m.headers) for m in chunk))


async def publish_async(js: JetStreamContext, msgs: list[Outgoing]) -> None:
    futures = [await js.publish_async(m.subject, m.payload, headers=m.headers) for m in msgs]
    await asyncio.gather(*futures)


async def publish_rate(publisher: Publisher, msgs: list[Outgoing]) -> float:
    """Messages/s, acks included, into a fresh server; every message must be in the stream."""
    with nats_server() as server:
        async with jetstream(server) as (_, js):
            started = time.perf_counter()
            await publisher(js, msgs)
            elapsed = time.perf_counter() - started
            if (last := await stream_last_seq(js)) != len(msgs):
                raise RuntimeError(f"stream holds {last} of {len(msgs)} messages")
    return len(msgs) / elapsed


def letters(n: int) -> list[Letter]:
    referral = Referral.model_validate(referral_body())
    assert referral.referring_clinic.report_email is not None
    to, now = referral.referring_clinic.report_email, datetime.now(UTC)
    return [Letter(Kind.REPORT, uuid4(), to, PRACTICE, referral, now) for _ in range(n)]


async def send_all(settings: Settings, n: int) -> float:
    """n letters (bytes built beforehand, as feedback builds them) over the pool's connections."""
    messages = [wire_message(RENDERED, letter, PRACTICE) for letter in letters(n)]
    pool = MailerPool.from_settings(settings)
    try:
        started = time.perf_counter()
        await asyncio.gather(*(pool.send(m) for m in messages))
        elapsed = time.perf_counter() - started
        if pool.connects != settings.smtp_connections:
            raise RuntimeError(f"{pool.connects} connections, expected {settings.smtp_connections}")
    finally:
        await pool.close()
    return n / elapsed


def smtp_rate(n: int, connections: int = 1) -> float:
    """Messages/s sent over `connections` SmtpMailer connections to a fresh MailSink."""
    with tempfile.TemporaryDirectory(prefix="bench-mail-") as tmp, MailSink(Path(tmp) / "mail") as sink:
        settings = Settings(
            smtp_host="127.0.0.1",
            smtp_port=sink.port,
            smtp_tls="none",
            smtp_timeout_s=10.0,
            smtp_connections=connections,
        )
        rate = asyncio.run(send_all(settings, n))
        if (stored := len(sink.files())) != n:
            raise RuntimeError(f"sink stored {stored} of {n} messages")
    return rate


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    facts = received_facts(args.n)
    msgs = outgoing(facts)
    payload = sum(len(m.payload) for m in msgs) / len(msgs)
    print(f"{args.n:,} ReferralReceived facts, mean payload {payload:,.0f} bytes")
    modes: dict[str, Publisher] = {
        "one at a time": one_at_a_time,
        "gathered x100": gathered_100,
        "publish_async": publish_async,
    }
    summaries: list[Summary] = [
        repeated(
            f"(a) JetStream publish+ack, {mode}",
            "msgs/s",
            args.repeat,
            lambda p=p: asyncio.run(publish_rate(p, msgs)),
        )
        for mode, p in modes.items()
    ]
    summaries += [
        repeated(
            f"(b) store append, batches of {size}",
            "facts/s",
            args.repeat,
            lambda s=size: ledger_append_rate(facts, s),
        )
        for size in (100, 1)
    ]
    summaries.append(
        repeated("(c) SMTP send, one connection", "msgs/s", args.repeat, lambda: smtp_rate(args.n))
    )
    report("ceilings", args, summaries, mean_payload_bytes=payload)


if __name__ == "__main__":
    main()
