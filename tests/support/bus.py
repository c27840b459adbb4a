"""Test helpers around a real JetStream: declare the layout, publish facts, read the dead letters."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StreamInfo

from contracts import Fact, bus
from referral_loop.messaging.bus import declare_referral_streams, ensure_consumer
from referral_loop.settings import Settings


async def declare_all(js: JetStreamContext, settings: Settings) -> None:
    await declare_referral_streams(js, settings)
    await ensure_consumer(js, bus.STREAM, bus.store_writer_consumer())


async def publish(js: JetStreamContext, fact: Fact, msg_id: str | None = None) -> None:
    headers = {"Nats-Msg-Id": msg_id or str(fact.event_id)}
    await js.publish(bus.fact_subject(fact), fact.model_dump_json().encode(), headers=headers)


async def dead_letters(nc: Client) -> list[tuple[str, str]]:
    """(subject, reason) of every dead-lettered message so far."""
    js = nc.jetstream()
    info: StreamInfo = await js.stream_info(bus.DEADLETTER_STREAM)
    found = []
    for seq in range(1, info.state.last_seq + 1):
        msg = await js.get_msg(bus.DEADLETTER_STREAM, seq)
        found.append((msg.subject, (msg.headers or {}).get(bus.REASON_HEADER, "")))
    return found


class Refusals:
    """A nats-py error callback (`error_cb=refusals.record`): what the server refused, in order."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    async def record(self, error: Exception) -> None:
        self.errors.append(str(error))

    async def heard(self, count: int = 1) -> list[str]:
        """The refusals once `count` have come: nats-py may send a flush's PING ahead of the
        refused PUB or SUB still in its buffer, so the -ERR can trail the PONG."""
        await eventually(lambda: len(self.errors) >= count, what=f"{count} refusals from nats-server")
        return self.errors


def violation(kind: str, subject: str) -> str:
    """nats-py's text of nats-server's permissions -ERR (nats-py lowercases it); kind is
    "publish" or "subscription"."""
    return f'nats: permissions violation for {kind} to "{subject.lower()}"'


async def eventually(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
