"""The store's disk full: writes fail cleanly, nothing is acknowledged to NATS, and every fact is
recorded once when space is back, by the same store-writer process (it never has to restart).

The full disk is the store-writer process's file-size limit (RLIMIT_FSIZE) set to 0 with prlimit:
every write it makes then fails with EFBIG (Python ignores SIGXFSZ), which SQLite reports as
"database or disk is full". SQLite only: on PostgreSQL the server process writes the files, so a
full disk there needs a full filesystem (root or a quota), which this suite does not assume. While
the limit holds, the process's own log cannot be written either; what it did is read from NATS.
"""

from __future__ import annotations

import asyncio
import resource
from pathlib import Path

import nats
from nats.js import JetStreamContext

from referral_loop.settings import Settings
from tests.support.bus import dead_letters, declare_all, publish
from tests.support.faults import (
    lifecycle,
    publish_interleaved,
    recorded_total,
    store_counts,
    timelines,
    until_recorded,
    writer_consumer,
)
from tests.support.processes import ProcessRegistry
from tests.support.servers import NatsServer

FULL = 0


async def test_a_full_disk_acknowledges_nothing_and_all_is_recorded_once_space_is_back(
    nats_server: NatsServer, services: ProcessRegistry, tmp_path: Path
) -> None:
    settings = Settings(store="sqlite", data_dir=tmp_path, nats_url=nats_server.url)
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await declare_all(js, settings)
    writer = services.start("store-writer", settings)
    first = lifecycle()
    await publish(js, first[0])
    await until_recorded(settings, nc, 1, timeout=30)

    hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
    resource.prlimit(writer.pid, resource.RLIMIT_FSIZE, (FULL, hard))
    later = [lifecycle() for _ in range(8)]
    await publish_interleaved(js, [first[1:], *later])
    expected = 5 + 8 * 5
    await until_held(js, expected - 1)
    await asyncio.sleep(2.0)  # retries 0.2, 0.4 and 0.8 s later: each fails on the full disk
    info = await writer_consumer(js)
    assert info.ack_floor is not None and info.ack_floor.stream_seq == 1, (
        "nothing after the first fact is acknowledged"
    )
    assert (info.num_pending or 0) + (info.num_ack_pending or 0) == expected - 1
    assert info.num_ack_pending, "the writer holds a batch it cannot record"
    assert info.num_redelivered == 0, "in_progress keeps the batch the writer's while it retries"
    assert recorded_total(settings) == 1
    assert writer.running

    resource.prlimit(writer.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, hard))
    await until_recorded(settings, nc, expected, timeout=60)
    assert max(store_counts(settings).values()) == 1
    recorded = timelines(settings, [facts[0].referral_id for facts in [first, *later]])
    assert all(recorded[facts[0].referral_id] == facts for facts in [first, *later])
    assert await dead_letters(nc) == []
    assert writer.running, "the same process recorded them: no restart was needed"
    await nc.close()


async def until_held(js: JetStreamContext, waiting: int) -> None:
    """Until the writer has fetched a batch of the `waiting` facts (and acknowledged none)."""
    for _ in range(400):
        info = await writer_consumer(js)
        if info.num_ack_pending and (info.num_pending or 0) + info.num_ack_pending == waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the writer never fetched: {info}")
