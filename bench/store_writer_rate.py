"""End to end JetStream -> store on SQLite: the store writer's sustained recording rate.

N ReferralReceived facts are published into a fresh nats-server (sync_interval: always) first;
then the real StoreWriter (micro-batches of 250) runs in-process until every fact is recorded.
The rate is recorded facts over the time from the start of the first record_batch to the end of
the last one; it is compared with the store's own append ceiling (record_batch in micro-batches
of 100, no bus) measured in the same run on the same facts.

    PYTHONPATH=. .venv/bin/python bench/store_writer_rate.py [--n 10000] [--repeat 3]
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from nats.js import JetStreamContext

from bench.common import (
    Summary,
    jetstream,
    ledger_append_rate,
    nats_server,
    outgoing,
    parser,
    received_facts,
    repeated,
    report,
    stream_last_seq,
)
from contracts.events import ReferralReceived
from referral_loop.settings import Settings
from referral_loop.store.config import ledger_env, opening
from referral_loop.store.ledger import Outcome, Positioned, ReferralLedger, Result
from services.store_writer.writer import StoreWriter

BATCH_SIZE = 250
FETCH_WAIT_S = 0.5
CEILING_BATCH = 100


class TimedLedger(ReferralLedger):
    """The referrals ledger, noting when recording started and ended and how much it recorded."""

    name = ReferralLedger.name  # eventsourcing names a subclass after itself otherwise
    target: tuple[int, asyncio.AbstractEventLoop, asyncio.Event] | None = None
    first_started: float | None = None
    last_ended: float = 0.0
    recorded: int = 0
    batches: int = 0

    def record_batch(self, batch: Sequence[Positioned]) -> dict[int, Result]:
        started = time.perf_counter()
        results = super().record_batch(batch)
        self.first_started = started if self.first_started is None else self.first_started
        self.last_ended = time.perf_counter()
        self.recorded += sum(r.outcome is Outcome.RECORDED for r in results.values())
        self.batches += 1
        if self.target is not None and self.recorded >= self.target[0]:
            self.target[1].call_soon_threadsafe(self.target[2].set)  # called in a worker thread
        return results

    def notify_when(self, n: int) -> asyncio.Event:
        """An event set once n facts are recorded (record_batch runs off the event loop)."""
        self.target = (n, asyncio.get_running_loop(), asyncio.Event())
        return self.target[2]

    def rate(self) -> float:
        assert self.first_started is not None
        return self.recorded / (self.last_ended - self.first_started)


def open_timed_ledger(settings: Settings) -> TimedLedger:
    """As open_ledger(settings) does, with the timing subclass."""
    return opening(lambda: TimedLedger(env=ledger_env(settings)))


async def publish_all(js: JetStreamContext, facts: list[ReferralReceived]) -> None:
    futures = [await js.publish_async(m.subject, m.payload, headers=m.headers) for m in outgoing(facts)]
    await asyncio.gather(*futures)
    if (last := await stream_last_seq(js)) != len(facts):
        raise RuntimeError(f"stream holds {last} of {len(facts)} facts")


async def drain(writer: StoreWriter, ledger: TimedLedger, n: int) -> None:
    """Run the writer until it has recorded n facts, then stop it."""
    recorded_all = asyncio.create_task(ledger.notify_when(n).wait())
    task = asyncio.create_task(writer.run())
    await asyncio.wait([task, recorded_all], return_when=asyncio.FIRST_COMPLETED)
    writer.stopping.set()
    recorded_all.cancel()
    await task


async def writer_run(facts: list[ReferralReceived], store_dir: Path) -> TimedLedger:
    with nats_server() as server:
        async with jetstream(server) as (_, js):
            await publish_all(js, facts)
            ledger = open_timed_ledger(Settings(data_dir=store_dir, nats_url=server.url))
            try:
                await drain(StoreWriter(js, ledger, BATCH_SIZE, FETCH_WAIT_S), ledger, len(facts))
            finally:
                ledger.close()
    return ledger


def writer_rate(facts: list[ReferralReceived], batch_sizes: list[float]) -> float:
    """Recorded facts/s of one end-to-end run in fresh temp dirs; notes the mean batch size."""
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        ledger = asyncio.run(writer_run(facts, Path(tmp)))
    if ledger.recorded != len(facts):
        raise RuntimeError(f"recorded {ledger.recorded} of {len(facts)} facts")
    batch_sizes.append(ledger.recorded / ledger.batches)
    return ledger.rate()


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    facts = received_facts(args.n)
    batch_sizes: list[float] = []
    writer = repeated(
        f"store writer, JetStream -> SQLite, fetch {BATCH_SIZE}",
        "facts/s",
        args.repeat,
        lambda: writer_rate(facts, batch_sizes),
    )
    ceiling = repeated(
        f"ceiling (b): store append, batches of {CEILING_BATCH}",
        "facts/s",
        args.repeat,
        lambda: ledger_append_rate(facts, CEILING_BATCH),
    )
    ratio = statistics.median(writer.samples) / statistics.median(ceiling.samples)
    summaries: list[Summary] = [writer, ceiling, Summary("mean facts per record_batch", "facts", batch_sizes)]
    report("store_writer_rate", args, summaries, ratio_to_ceiling=ratio)
    print(f"\nstore writer / ceiling (b) (medians): {ratio:.2f}")


if __name__ == "__main__":
    main()
