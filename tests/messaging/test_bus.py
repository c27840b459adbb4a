"""Declaring the streams waits a while for a cluster that cannot place them yet, then gives up."""

from __future__ import annotations

import logging

import nats
import pytest
from nats.js.errors import APIError

from referral_loop.messaging.bus import declare_referral_streams
from referral_loop.settings import Settings
from tests.support.servers import NatsServer


async def test_streams_nobody_can_place_are_retried_then_refused(
    nats_server: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(nats_url=nats_server.url, nats_replicas=3)  # one node cannot hold 3 replicas
    nc = await nats.connect(nats_server.url)
    try:
        with caplog.at_level(logging.WARNING), pytest.raises(APIError):
            await declare_referral_streams(nc.jetstream(), settings, patience_s=1.2)
        assert sum("cannot be declared yet" in r.message for r in caplog.records) >= 2
        await declare_referral_streams(nc.jetstream(), settings.model_copy(update={"nats_replicas": 1}))
        assert (await nc.jetstream().stream_info("REFERRALS")).config.num_replicas == 1
    finally:
        await nc.close()
