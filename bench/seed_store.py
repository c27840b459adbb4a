"""Seed a referrals event store with N facts of realistic referral lifecycles, quickly.

The facts go in through `ReferralLedger.record_batch`, the store writer's own path (lifecycle
rules, one tracking row per bus position), in large batches: the store holds exactly what the
writer would have recorded, so a rebuild or a follower reads it as normal.

    PYTHONPATH=. .venv/bin/python bench/seed_store.py --events 1000000 --data-dir /tmp/seeded
    REFERRAL_LOOP_POSTGRES_HOST=... PYTHONPATH=. .venv/bin/python bench/seed_store.py --store postgres
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Literal, TypeVar

from bench import lifecycles
from contracts import Fact
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.ledger import Outcome, Positioned, ReferralLedger

Progress = Callable[[int, int, float], None]
"""(facts recorded so far, facts wanted, seconds since the start)."""
T = TypeVar("T")
BATCH = Settings().writer_batch
"""Facts per store transaction: the store writer's batch, so the log's order is the writer's (a
batch's events are saved aggregate by aggregate)."""


def printed(done: int, wanted: int, elapsed: float) -> None:
    rate = done / max(elapsed, 1e-9)
    print(f"  seeded {done:,}/{wanted:,} facts ({rate:,.0f} facts/s, {elapsed:.0f} s)", flush=True)


def seed(
    settings: Settings,
    events: int,
    progress: Progress | None = printed,
    clinics: int = 300,
    batch: int = BATCH,
) -> float:
    """Record `events` facts into the empty referrals store of `settings`; the seconds it took."""
    ledger = open_ledger(settings)
    try:
        if ledger.recorder.max_notification_id():
            raise RuntimeError("the referrals store is not empty; seed a fresh one")
        return record_all(ledger, lifecycles.facts(events, clinics), events, progress, batch)
    finally:
        ledger.close()


def record_all(
    ledger: ReferralLedger, facts: Iterable[Fact], wanted: int, progress: Progress | None, batch: int
) -> float:
    started, done, reported = time.perf_counter(), 0, 0.0
    for chunk in batched(facts, batch):
        record(ledger, [Positioned(done + i + 1, fact) for i, fact in enumerate(chunk)])
        done += len(chunk)
        elapsed = time.perf_counter() - started
        if progress is not None and (elapsed - reported >= 2.0 or done == wanted):
            progress(done, wanted, elapsed)
            reported = elapsed
    return time.perf_counter() - started


def record(ledger: ReferralLedger, batch: list[Positioned]) -> None:
    """One store transaction; every fact must be recorded (a generator bug otherwise)."""
    results = ledger.record_batch(batch)
    refused = [(p, r) for p, r in results.items() if r.outcome is not Outcome.RECORDED]
    if refused:
        position, result = refused[0]
        raise RuntimeError(f"{len(refused)} facts not recorded; position {position}: {result}")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def store_settings(data_dir: Path, store: Literal["sqlite", "postgres"]) -> Settings:
    """Settings of a store under `data_dir`; PostgreSQL's connection from REFERRAL_LOOP_POSTGRES_*."""
    return Settings(data_dir=data_dir, store=store)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--data-dir", type=Path, required=True, help="where the SQLite files go")
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--clinics", type=int, default=300)
    parser.add_argument("--batch", type=int, default=BATCH, help="facts per store transaction")
    args = parser.parse_args()
    settings = store_settings(args.data_dir, args.store)
    seconds = seed(settings, args.events, clinics=args.clinics, batch=args.batch)
    print(f"seeded {args.events:,} facts in {seconds:.1f} s ({args.events / seconds:,.0f} facts/s)")


if __name__ == "__main__":
    main()
