"""The store writer process announces each recorded batch on core NATS, for followers to look at once."""

from __future__ import annotations

from pathlib import Path

import nats

from contracts import bus
from referral_loop.settings import Settings
from tests.support import referrals as make
from tests.support.bus import declare_all, publish
from tests.support.processes import ProcessRegistry
from tests.support.servers import NatsServer


async def test_a_recorded_batch_is_announced(
    tmp_path: Path, nats_server: NatsServer, services: ProcessRegistry
) -> None:
    settings = Settings(data_dir=tmp_path, nats_url=nats_server.url)
    nc = await nats.connect(nats_server.url)
    try:
        await declare_all(nc.jetstream(), settings)
        notices = await nc.subscribe(bus.RECORDED_NOTICE)
        services.start("store-writer", settings)
        await publish(nc.jetstream(), make.received())
        notice = await notices.next_msg(timeout=30)
        assert notice.data == b"", "a hint only: followers read the store itself"
    finally:
        await nc.close()
