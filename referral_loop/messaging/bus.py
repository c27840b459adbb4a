"""Connecting to NATS JetStream and declaring the streams and consumers from `contracts.bus`.

A service connects as its own NATS user when its nkey seed is there (`nats_nkey_file`, else
`<nats_secrets_dir>/<name>.nk`), its replies on inboxes of its own, and over TLS verified against
`nats_tls_ca_file` when that is set. Without a seed it connects anonymously (a server with users
refuses that).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, StreamConfig
from nats.js.errors import APIError, NotFoundError

from contracts import bus
from referral_loop.messaging import nats_auth
from referral_loop.settings import Settings

log = logging.getLogger(__name__)
DECLARE_PATIENCE_S = 30.0


async def connect(settings: Settings, name: str, **options: Any) -> Client:
    """A connection as `name` (its nkey, inboxes, TLS) that keeps reconnecting for ever; the first
    connect fails fast if NATS is down. `options` override nats.connect's."""
    defaults: dict[str, Any] = {
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": 2,
        "allow_reconnect": True,
        "error_cb": log_error,
    }
    merged = defaults | identity(settings, name) | options
    return await nats.connect(servers=settings.nats_servers, name=name, **merged)


def seed_file(settings: Settings, role: str) -> Path | None:
    """The nkey seed this process authenticates with, if it has one."""
    if settings.nats_nkey_file is not None:
        return settings.nats_nkey_file
    found = nats_auth.seed_path(settings.nats_secrets_path, role)
    return found if found.exists() else None


def identity(settings: Settings, role: str) -> dict[str, Any]:
    """nats.connect's options for who this process is: its nkey, its inboxes, TLS."""
    options: dict[str, Any] = {}
    seed = seed_file(settings, role)
    if seed is not None:
        options |= {"nkeys_seed": str(seed), "inbox_prefix": nats_auth.inbox_prefix(role)}
    if settings.nats_tls_ca_file is not None:
        options["tls"] = ssl.create_default_context(cafile=str(settings.nats_tls_ca_file))
    return options


async def log_error(error: Exception) -> None:
    """A refused publish or subscribe (permissions violation) and connection errors, logged."""
    log.error("NATS: %s", error)


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


def deadletter_stream(settings: Settings) -> StreamConfig:
    """The dead-letter stream as these settings keep it (DEADLETTER_MAX_AGE_DAYS)."""
    return bus.deadletter_stream(settings.nats_replicas, settings.deadletter_max_age_days * 24 * 3600.0)


async def declare_referral_streams(
    js: JetStreamContext, settings: Settings, patience_s: float = DECLARE_PATIENCE_S
) -> None:
    """Declare both streams, trying again for a while: a cluster whose nodes have only just met
    cannot place a stream at 3 replicas yet (and a node may still be starting). An existing
    stream is updated to the config (a changed dead-letter retention applies at the next start)."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            await ensure_stream(js, bus.referrals_stream(settings.nats_replicas))
            await ensure_stream(js, deadletter_stream(settings))
            return
        except (APIError, NatsTimeoutError) as error:
            if time.monotonic() > deadline:
                raise
            log.warning("the streams cannot be declared yet (%s); trying again", type(error).__name__)
            await asyncio.sleep(0.5)
