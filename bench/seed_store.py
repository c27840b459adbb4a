"""Seed a referrals event store with N facts of realistic referral lifecycles, quickly.

The facts are written as the stored events the store writer would have recorded for them, in
the writer's batches and order, with one tracking row per bus position; but without the writer's
work per fact (loading the referral, checking its lifecycle, building the domain event): the
generator (`bench/lifecycles.py`) makes only lifecycles the store accepts, and
tests/bench/test_seed_store.py checks that the store seeded here is, event for event, the one
`ReferralLedger.record_batch` makes from the same facts. A million facts take well under a
minute, where the writer's path took four.

    PYTHONPATH=. .venv/bin/python bench/seed_store.py --events 1000000 --data-dir /tmp/seeded
    REFERRAL_LOOP_POSTGRES_HOST=... PYTHONPATH=. .venv/bin/python bench/seed_store.py --store postgres
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TypeVar
from uuid import UUID

from eventsourcing.persistence import Cipher, StoredEvent
from eventsourcing.utils import get_topic

from bench import lifecycles
from contracts import Fact
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.ledger import UPSTREAM, ReferralLedger
from referral_loop.store.recorders import trackings
from referral_loop.store.referral import Referral

Progress = Callable[[int, int, float], None]
"""(facts recorded so far, facts wanted, seconds since the start)."""
T = TypeVar("T")
BATCH = Settings().writer_batch
"""Facts per store transaction: the store writer's batch, so the log's order is the writer's."""
BATCHES_PER_TRANSACTION = 20
CREATED = get_topic(Referral)


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
    """Write `events` facts into the empty referrals store of `settings`; the seconds it took."""
    ledger = open_ledger(settings)
    try:
        if ledger.recorder.max_notification_id():
            raise RuntimeError("the referrals store is not empty; seed a fresh one")
        return write_all(ledger, lifecycles.facts(events, clinics), events, progress, batch)
    finally:
        ledger.close()


def write_all(
    ledger: ReferralLedger, facts: Iterable[Fact], wanted: int, progress: Progress | None, batch: int
) -> float:
    """The writer's batches, several to a transaction (fewer commits: the order is the same)."""
    started, done, reported = time.perf_counter(), 0, 0.0
    versions: dict[UUID, int] = {}
    assert ledger.mapper.compressor is None, "seeding writes what an uncompressed store holds"
    for chunk in batched(facts, batch * BATCHES_PER_TRANSACTION):
        stored = [
            e
            for part in batched(chunk, batch)
            for e in stored_events(in_saving_order(part, versions), versions, ledger.mapper.cipher)
        ]
        ledger.recorder.insert_events(
            stored, trackings=trackings(UPSTREAM, range(done + 1, done + len(chunk) + 1))
        )
        done += len(chunk)
        elapsed = time.perf_counter() - started
        if progress is not None and (elapsed - reported >= 2.0 or done == wanted):
            progress(done, wanted, elapsed)
            reported = elapsed
    return time.perf_counter() - started


def in_saving_order(chunk: list[Fact], known: dict[UUID, int]) -> list[Fact]:
    """A batch's facts in the order the writer saves them, referral by referral: first those it
    loaded from the store (in the store's order of ids), then the new ones as the batch met them."""
    first: dict[UUID, int] = {}
    for index, fact in enumerate(chunk):
        first.setdefault(fact.referral_id, index)
    order = {rid: (0, rid.hex, 0) if rid in known else (1, "", i) for rid, i in first.items()}
    return sorted(chunk, key=lambda fact: order[fact.referral_id])


def stored_events(
    facts: list[Fact], versions: dict[UUID, int], cipher: Cipher | None = None
) -> list[StoredEvent]:
    """The stored events of these facts, as the Referral aggregate's mapper writes them
    (encrypted with the store key, as the mapper does, when the store has one)."""
    now = datetime.now(UTC).isoformat()
    found = []
    for fact in facts:
        version = versions[fact.referral_id] = versions.get(fact.referral_id, 0) + 1
        stored = state(fact, now)
        stored = cipher.encrypt(stored) if cipher else stored
        found.append(StoredEvent(fact.referral_id, version, topic_of(fact), stored))
    return found


def topic_of(fact: Fact) -> str:
    return f"{CREATED}.{fact.type}"


def state(fact: Fact, timestamp: str) -> bytes:
    """What eventsourcing's JSONTranscoder writes for the event: its timestamp, the originator's
    topic on the created event, and the fact's envelope as JSON (pydantic's JSON is the same)."""
    created = f'"originator_topic":"{CREATED}",' if fact.type == "ReferralReceived" else ""
    head = f'{{"timestamp":{{"_type_":"datetime_iso","_data_":"{timestamp}"}},{created}"fact":'
    return head.encode() + fact.model_dump_json().encode() + b"}"


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
