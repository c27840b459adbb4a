"""Shared helpers for the rate benches: repeats and their summary, the table, the JSON results,
a real nats-server in a temp dir, ~1 KB ReferralReceived facts, and the store's append ceiling."""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext

from contracts import bus
from contracts.events import ReferralReceived
from launcher.natsd import NatsServer
from referral_loop.keys import with_local_key
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.ledger import Outcome, Positioned
from tests.support import referrals as make
from tests.support.bus import declare_all

RESULTS_DIR = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Summary:
    """One measured quantity over the repeats."""

    name: str
    unit: str
    samples: list[float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "median": statistics.median(self.samples),
            "min": min(self.samples),
            "max": max(self.samples),
            "samples": self.samples,
        }


def parser(description: str, n_default: int = 10_000) -> argparse.ArgumentParser:
    found = argparse.ArgumentParser(description=description)
    found.add_argument("--n", type=int, default=n_default, help="messages or facts per measurement")
    found.add_argument("--repeat", type=int, default=1, help="measurements of each quantity")
    return found


def repeated(name: str, unit: str, times: int, measure: Callable[[], float]) -> Summary:
    """`measure()` `times` times; progress on one line each, the table comes at the end."""
    samples = []
    for run in range(1, times + 1):
        samples.append(measure())
        print(f"  {name} run {run}/{times}: {samples[-1]:,.1f} {unit}", flush=True)
    return Summary(name, unit, samples)


def table(summaries: list[Summary]) -> str:
    lines = ["| measurement | median | min - max | unit |", "|---|---:|---:|---|"]
    for s in summaries:
        d = s.as_dict()
        lines.append(f"| {s.name} | {d['median']:,.1f} | {d['min']:,.1f} - {d['max']:,.1f} | {s.unit} |")
    return "\n".join(lines)


def report(name: str, args: argparse.Namespace, summaries: list[Summary], **extra: Any) -> Path:
    """Print the markdown table; write bench/results/<name>.json; its path."""
    print(f"\n{name}: n={args.n:,}, repeat={args.repeat}\n")
    print(table(summaries))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    document = {
        "bench": name,
        "at": datetime.now(UTC).isoformat(),
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "args": vars(args),
        "results": [s.as_dict() for s in summaries],
        **extra,
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwritten to {path}")
    return path


@contextmanager
def nats_server() -> Iterator[NatsServer]:
    """A fresh nats-server (sync_interval: always) in its own temp dir, stopped afterwards."""
    with tempfile.TemporaryDirectory(prefix="bench-nats-") as tmp:
        server = NatsServer(store_dir=Path(tmp) / "store", server_name="bench")
        with server:
            yield server


@asynccontextmanager
async def jetstream(server: NatsServer) -> AsyncIterator[tuple[Client, JetStreamContext]]:
    """A connection with the project's streams and the store writer's consumer declared."""
    nc = await nats.connect(server.url, name="bench")
    try:
        js = nc.jetstream()
        await declare_all(js, Settings(nats_url=server.url))
        yield nc, js
    finally:
        await nc.close()


def received_facts(n: int) -> list[ReferralReceived]:
    """n distinct ReferralReceived facts (a new referral each), ~1 KB of JSON apiece."""
    return [make.received() for _ in range(n)]


@dataclass(frozen=True)
class Outgoing:
    """A fact ready to publish, serialised beforehand so that only the bus is timed."""

    subject: str
    payload: bytes
    headers: dict[str, str]


def outgoing(facts: list[ReferralReceived]) -> list[Outgoing]:
    return [
        Outgoing(bus.fact_subject(f), f.model_dump_json().encode(), {"Nats-Msg-Id": str(f.event_id)})
        for f in facts
    ]


async def stream_last_seq(js: JetStreamContext) -> int:
    info = await js.stream_info(bus.STREAM)
    return int(info.state.last_seq)


def ledger_append_rate(facts: list[ReferralReceived], batch_size: int, store: str = "sqlite") -> float:
    """Facts/s of ReferralLedger.record_batch in micro-batches of `batch_size`, on a fresh store
    (SQLite, or a database on an embedded PostgreSQL) opened exactly as the store writer opens it."""
    from bench.stack import postgres_store  # the stack module imports this one

    positioned = [Positioned(i + 1, fact) for i, fact in enumerate(facts)]
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        root = Path(tmp)
        with postgres_store(root) if store == "postgres" else nullcontext({}) as update:
            ledger = open_ledger(with_local_key(Settings(data_dir=root, **update)))  # as make run: encrypted
            try:
                started, recorded = time.perf_counter(), 0
                for start in range(0, len(positioned), batch_size):
                    results = ledger.record_batch(positioned[start : start + batch_size])
                    recorded += sum(r.outcome is Outcome.RECORDED for r in results.values())
                elapsed = time.perf_counter() - started
            finally:
                ledger.close()
    if recorded != len(facts):
        raise RuntimeError(f"recorded {recorded} of {len(facts)} facts")
    return len(facts) / elapsed
