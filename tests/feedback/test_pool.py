"""MailerPool against the real MailSink: concurrent sends over a few connections, each letter once,
failures classified as by one SmtpMailer, and a connection freed by a failure used again."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from launcher.mailsink import MailSink
from services.feedback.letters import Kind
from services.feedback.message import PermanentFailure, TransientFailure
from services.feedback.pool import MailerPool
from services.feedback.wire import Outgoing, outgoing
from tests.feedback.test_mailer import PRACTICE, RENDERED, make_letter, smtp_settings


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[MailSink]:
    with MailSink(tmp_path / "mail") as started:
        yield started


def letters(count: int) -> list[Outgoing]:
    return [outgoing(RENDERED, make_letter(Kind.REPORT, uuid4()), PRACTICE) for _ in range(count)]


async def test_concurrent_sends_deliver_each_letter_once_over_at_most_the_pool_size(sink: MailSink) -> None:
    sink.data_delay_s = 0.01
    pool = MailerPool.from_settings(smtp_settings(sink, smtp_connections=3))
    batch = letters(30)
    try:
        await asyncio.gather(*(pool.send(out) for out in batch))
    finally:
        await pool.close()
    copies = Counter(str(m["Message-ID"]) for m in sink.messages())
    assert copies == Counter(out.message_id for out in batch)
    assert sink.connections == pool.connects == 3, "thirty sends at once open all three, and no more"


async def test_light_traffic_keeps_to_one_connection(sink: MailSink) -> None:
    pool = MailerPool.from_settings(smtp_settings(sink, smtp_connections=4))
    try:
        for out in letters(5):
            await pool.send(out)
    finally:
        await pool.close()
    assert len(sink.files()) == 5 and sink.connections == 1


async def test_failures_are_classified_per_letter_and_the_others_go(sink: MailSink) -> None:
    sink.refuse_recipients["nobody@harbor.example"] = "550 5.1.1 no such user"
    refused = outgoing(RENDERED, make_letter(to="nobody@harbor.example"), PRACTICE)
    pool = MailerPool.from_settings(smtp_settings(sink, smtp_connections=2))
    try:
        results = await asyncio.gather(
            *(pool.send(o) for o in [refused, *letters(3)]), return_exceptions=True
        )
        assert isinstance(results[0], PermanentFailure) and "550" in results[0].reason
        assert results[1:] == [None, None, None]
        sink.refuse_with = "451 4.3.0 try later"
        with pytest.raises(TransientFailure):
            await pool.send(letters(1)[0])
        sink.refuse_with = None
        await pool.send(letters(1)[0])
    finally:
        await pool.close()
    assert len(sink.files()) == 4


def test_a_pool_needs_a_mailer() -> None:
    with pytest.raises(ValueError, match="at least one"):
        MailerPool([])
