"""Dead letters hold PHI (a fact that could not be recorded, as it was sent), so they are not kept
for ever (issue 14, finding 8): the dead-letter stream has a max_age (DEADLETTER_MAX_AGE_DAYS,
30 by default), and a server whose stream was declared before (max_age 0) is brought to it when
a service declares the streams at start-up; its old dead letters then expire."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import nats
from nats.js.api import StreamConfig

from contracts import bus
from launcher.natsd import NatsServer
from referral_loop.messaging.bus import declare_referral_streams
from referral_loop.settings import Settings

BEFORE = dataclasses.replace(bus.deadletter_stream(), max_age=None)
"""The dead-letter stream as it was declared before this fix: kept for ever."""


async def expire_old_dead_letter(server: NatsServer, max_age_days: float) -> tuple[float, int]:
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig.from_response(BEFORE.as_dict()))
        await js.publish(f"{bus.DEADLETTER_PREFIX}.ReferralReceived", b'{"patient": "Zebulonia"}')
        assert (await js.stream_info(bus.DEADLETTER_STREAM)).config.max_age in (None, 0)
        settings = Settings(nats_url=server.url, deadletter_max_age_days=max_age_days)
        await declare_referral_streams(js, settings)
        info = await js.stream_info(bus.DEADLETTER_STREAM)
        deadline = time.monotonic() + 10
        while info.state.messages and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            info = await js.stream_info(bus.DEADLETTER_STREAM)
        return float(info.config.max_age or 0), int(info.state.messages)
    finally:
        await nc.close()


async def test_an_existing_dead_letter_stream_gets_the_retention_and_old_letters_expire(
    nats_server: NatsServer,
) -> None:
    max_age, left = await expire_old_dead_letter(nats_server, max_age_days=2 / 86400)  # two seconds
    assert max_age == 2.0
    assert left == 0, "the dead letter older than the retention is gone"


def test_the_default_retention_is_thirty_days() -> None:
    assert Settings().deadletter_max_age_days == 30
    assert bus.deadletter_stream().max_age == 30 * 24 * 3600
