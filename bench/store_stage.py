"""Recorded end to end, durable: facts published in batches by FactPublisher.publish_many into a
real nats-server (sync_interval: always) while the real store-writer process records them.

The rate is N facts over the time from the first publish to the moment the store holds all N
(watched by polling its notification log). The ceiling it is compared with is measured in the
same run: the slower of the raw JetStream publish (publish_async, no project code) and the raw
store append (record_batch in batches of the writer's size, no bus).

    PYTHONPATH=. .venv/bin/python bench/store_stage.py [--n 20000] [--repeat 3] [--store postgres]
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import nats

from bench.common import received_facts
from bench.observe import StoreWatch
from bench.stack import postgres_store, stack_settings, wait_http
from contracts import Fact
from contracts.events import ReferralReceived
from launcher.devstack import Child
from launcher.natsd import NatsServer, free_port
from referral_loop.messaging.publisher import BusUnavailable, FactPublisher
from referral_loop.settings import Settings
from tests.support.bus import declare_all

PUBLISH_BATCH = 500


async def publish_in_batches(url: str, facts: list[Fact], size: int, every_s: float | None = None) -> float:
    """Publish with FactPublisher.publish_many, `size` facts at a time, at once or (with
    `every_s`) one batch per interval; every fact must be acknowledged. When publishing began."""
    nc = await nats.connect(url, name="bench-publisher")
    try:
        publisher, started = FactPublisher(nc, timeout_s=10.0), time.time()
        for i, start in enumerate(range(0, len(facts), size)):
            if every_s is not None:
                await asyncio.sleep(max(0.0, started + i * every_s - time.time()))
            results = await publisher.publish_many(facts[start : start + size])
            if any(isinstance(r, BusUnavailable) for r in results):
                raise RuntimeError("a publish was not acknowledged")
        return started
    finally:
        await nc.close()


async def recorded_by(watch: StoreWatch, n: int, writer: Child) -> float:
    while len(watch.positions) < n:
        if writer.process.poll() is not None:
            raise RuntimeError("the store writer exited")
        await asyncio.sleep(0.01)
    return watch.positions[n - 1][1]


async def timed(settings: Settings, facts: list[ReferralReceived], writer: Child) -> float:
    watch = StoreWatch(settings)
    watch.thread.start()
    try:
        started = await publish_in_batches(settings.nats_url, list(facts), PUBLISH_BATCH)
        done = await recorded_by(watch, len(facts), writer)
    finally:
        watch.thread.stop()
        watch.close()
    return len(facts) / (done - started)


def writer_alive(writer: Child) -> Callable[[], None]:
    def alive() -> None:
        if writer.process.poll() is not None:
            raise RuntimeError("the store writer exited")

    return alive


async def declared(settings: Settings) -> None:
    nc = await nats.connect(settings.nats_url)
    try:
        await declare_all(nc.jetstream(), settings)
    finally:
        await nc.close()


def stage_rate(facts: list[ReferralReceived], store: str = "sqlite") -> float:
    """Facts/s recorded end to end, in a fresh server and store; every fact must be recorded."""
    with tempfile.TemporaryDirectory(prefix="bench-stage-") as tmp:
        root = Path(tmp)
        with (
            postgres_store(root) if store == "postgres" else nullcontext({}) as update,
            NatsServer(store_dir=root / "nats", port=free_port(), server_name="bench") as server,
        ):
            settings = stack_settings(root, server.url, update).model_copy(
                update={"store_writer_ops_port": free_port()}
            )
            asyncio.run(declared(settings))
            writer = Child.start("store-writer", settings)
            try:
                # its start-up (imports, opening the store) is not part of the sustained rate
                wait_http(f"http://127.0.0.1:{settings.store_writer_ops_port}/readyz", writer_alive(writer))
                return asyncio.run(timed(settings, facts, writer))
            finally:
                writer.stop()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    a = parser.parse_args()
    print(f"{stage_rate(received_facts(a.n), a.store):,.0f} facts/s")
