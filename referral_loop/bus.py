"""Connecting to NATS JetStream and declaring the streams and consumers from `contracts.bus`."""

from __future__ import annotations

import asyncio
import logging
import time

import nats
from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, StreamConfig
from nats.js.errors import APIError, NotFoundError

from contracts import bus
from referral_loop.settings import Settings

log = logging.getLogger(__name__)
DECLARE_PATIENCE_S = 30.0


async def connect(settings: Settings, name: str) -> Client:
    """A connection that keeps reconnecting for ever; the first connect fails fast if NATS is down."""
    return await nats.connect(
        servers=settings.nats_servers,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=2,
        allow_reconnect=True,
    )


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream, or bring an existing one to this config."""
    try:
        await js.stream_info(config.name or "")
    except NotFoundError:
        await js.add_stream(config)
        log.info("created stream %s", config.name)
        return
    await js.update_stream(config)


async def ensure_consumer(js: JetStreamContext, stream: str, config: ConsumerConfig) -> None:
    """Create or update a durable consumer (a changed config is not applied on reconnect alone)."""
    await js.add_consumer(stream, config)


async def declare_referral_streams(
    js: JetStreamContext, settings: Settings, patience_s: float = DECLARE_PATIENCE_S
) -> None:
    """Declare both streams, trying again for a while: a cluster whose nodes have only just met
    cannot place a stream at 3 replicas yet (and a node may still be starting)."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            await ensure_stream(js, bus.referrals_stream(settings.nats_replicas))
            await ensure_stream(js, bus.deadletter_stream(settings.nats_replicas))
            return
        except (APIError, NatsTimeoutError) as error:
            if time.monotonic() > deadline:
                raise
            log.warning("the streams cannot be declared yet (%s); trying again", type(error).__name__)
            await asyncio.sleep(0.5)
