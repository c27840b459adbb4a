"""Projection lag at a steady 1,000 facts/s: realistic lifecycle facts published at that rate into
a real nats-server, recorded by the store-writer process, followed by the projections process.

Lag is, for each store position, the time from when it appeared in the store to when the views'
position passed it (both watched every 5 ms from outside).

    PYTHONPATH=. .venv/bin/python bench/lag_stage.py [--facts 20000] [--rate 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.lifecycle_bench import percentiles, rate_of
from bench.lifecycles import facts as lifecycle_facts
from bench.observe import StoreWatch, ViewsWatch
from bench.stack import Stack, postgres_store, stack_settings, stop_all, wait_http
from bench.store_stage import declared, publish_in_batches
from contracts import Fact
from launcher.devstack import Child
from launcher.natsd import NatsServer, free_port
from referral_loop.ops.heap import freeze_startup_objects

TICK_S = 0.01


async def watched(stack: Stack, facts: list[Fact], rate: float) -> dict[str, Any]:
    store, views = StoreWatch(stack.settings), ViewsWatch(stack.settings)
    for w in (store, views):
        w.thread.start()
    try:
        await publish_in_batches(stack.settings.nats_url, facts, max(1, int(rate * TICK_S)), TICK_S)
        deadline = time.time() + 30
        while (not views.marks or views.marks[-1][0] < len(facts)) and time.time() < deadline:
            stack.check()
            await asyncio.sleep(0.05)
    finally:
        for w in (store, views):
            w.thread.stop()
        store.close()
        views.close()
    return {
        "facts": len(store.positions),
        "recorded_facts_per_s": rate_of([t for _, t in store.positions]),
        "projection_lag_ms": percentiles(views.lags(store.positions)),
    }


def lag_run(n: int, rate: float, store: str = "sqlite") -> dict[str, Any]:
    facts = list(lifecycle_facts(n))
    with tempfile.TemporaryDirectory(prefix="bench-lag-") as tmp, ExitStack() as stop:
        root = Path(tmp)
        update = stop.enter_context(postgres_store(root)) if store == "postgres" else {}
        nats_server = stop.enter_context(
            NatsServer(store_dir=root / "nats", port=free_port(), server_name="bench")
        )
        stack = Stack(stack_settings(root, nats_server.url, update), nats_server, password="")
        asyncio.run(declared(stack.settings))
        stop.callback(lambda: stop_all(stack.children.values()))
        for name in ("store-writer", "projections"):
            stack.children[name] = Child.start(name, stack.settings)
        wait_http(f"http://127.0.0.1:{stack.settings.ops_port}/healthz", stack.check)
        freeze_startup_objects()  # the facts to publish: no full collection rescans them mid-run
        return asyncio.run(watched(stack, facts, rate))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--facts", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    a = parser.parse_args()
    print(json.dumps(lag_run(a.facts, a.rate, a.store), indent=2))


if __name__ == "__main__":
    main()
