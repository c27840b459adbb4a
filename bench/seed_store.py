"""Seed a referrals event store with N facts of realistic referral lifecycles, quickly.

The facts are written as the stored events the store writer would have recorded for them, in
the writer's batches and order, with one tracking row per bus position, and their PHI sealed
under each patient's data key as the writer seals it (`referral_loop/store/patient_phi.py`:
the keys found or made per patient and written with the facts, by the store's own
`PatientKeys`); but without the writer's work per fact (loading the referral, checking its
lifecycle, building the domain event): the generator (`bench/lifecycles.py`) makes only
lifecycles the store accepts, and tests/bench/test_seed_store.py checks that the store seeded
here is, event for event, the one `ReferralLedger.record_batch` makes from the same facts. A
child process generates the facts and their plain stored states (`bench/seed_producer.py`) while
this one seals, encrypts and inserts them: a million facts take under a minute on two cores,
where the writer's path took four.

    PYTHONPATH=. .venv/bin/python bench/seed_store.py --events 1000000 --data-dir /tmp/seeded
    REFERRAL_LOOP_POSTGRES_HOST=... PYTHONPATH=. .venv/bin/python bench/seed_store.py --store postgres
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from bench import seed_producer
from bench.seed_producer import Row
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.ledger import UPSTREAM, ReferralLedger
from referral_loop.store.patient_keys import Writing
from referral_loop.store.patient_phi import DataKey, seal
from referral_loop.store.recorders import trackings
from services.projections.rebuild_pace import collecting_rarely

Progress = Callable[[int, int, float], None]
"""(facts recorded so far, facts wanted, seconds since the start)."""
BATCH = Settings().writer_batch
"""Facts per store transaction: the store writer's batch, so the log's order is the writer's."""
BATCHES_PER_TRANSACTION = 20
ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
"""As eventsourcing's JSONTranscoder encodes (readers find sealed facts by its compact JSON)."""


def printed(done: int, wanted: int, elapsed: float) -> None:
    rate = done / max(elapsed, 1e-9)
    print(f"  seeded {done:,}/{wanted:,} facts ({rate:,.0f} facts/s, {elapsed:.0f} s)", flush=True)


def seed(
    settings: Settings,
    events: int,
    progress: Progress | None = printed,
    clinics: int = 300,
    batch: int = BATCH,
    of: int = 0,
    after: Mapping[int, Callable[[], None]] | None = None,
) -> float:
    """Write the first `events` facts of a log of `of` (default: `events`) into the empty
    referrals store of `settings`; `after[n]()` once it holds n facts (a multiple of a
    transaction's batch * BATCHES_PER_TRANSACTION facts, up to `events`). The seconds it took."""
    per_chunk, hooks = batch * BATCHES_PER_TRANSACTION, dict(after or {})
    if any(n % per_chunk or not 0 < n <= events for n in hooks):
        raise ValueError(f"a hook runs after whole transactions of {per_chunk} facts, within the log")
    # The child is forked before the store is opened: it inherits no connection of it.
    with (
        seed_producer.produced(events, max(of, events), clinics, batch, per_chunk) as chunks,
        empty_store(settings) as ledger,
        collecting_rarely(),
    ):
        return write_all(ledger, chunks, events, progress, hooks)


@contextmanager
def empty_store(settings: Settings) -> Iterator[ReferralLedger]:
    """The referrals store, opened as the writer opens it; refused unless empty."""
    ledger = open_ledger(settings)
    try:
        if ledger.recorder.max_notification_id():
            raise RuntimeError("the referrals store is not empty; seed a fresh one")
        assert ledger.mapper.compressor is None, "seeding writes what an uncompressed store holds"
        yield ledger
    finally:
        ledger.close()


def write_all(
    ledger: ReferralLedger,
    chunks: Iterable[list[Row]],
    wanted: int,
    progress: Progress | None,
    hooks: Mapping[int, Callable[[], None]],
) -> float:
    """Each chunk (the writer's batches, several to a transaction: fewer commits, the same order)
    sealed and inserted with its patients' keys, its tracking rows, in one transaction."""
    started, done, reported, sealer = time.perf_counter(), 0, 0.0, Sealer(ledger)
    for chunk in chunks:
        stored, write_keys = sealer.stored_events(chunk)
        positions = range(done + 1, done + len(chunk) + 1)
        ledger.recorder.insert_events(stored, trackings=trackings(UPSTREAM, positions), also=write_keys)
        done += len(chunk)
        if done in hooks:
            hooks[done]()
        elapsed = time.perf_counter() - started
        if progress is not None and (elapsed - reported >= 2.0 or done == wanted):
            progress(done, wanted, elapsed)
            reported = elapsed
    return time.perf_counter() - started


class Sealer:
    """What the writer does to a batch's facts with PHI, for a chunk of rows: their patients'
    data keys found or made (`PatientKeys.keys_for_new`, written by `write` with the facts),
    each fact sealed under its referral's key, then every state encrypted with the store key."""

    def __init__(self, ledger: ReferralLedger) -> None:
        self.ledger, self.keys = ledger, dict[UUID, DataKey]()

    def stored_events(self, rows: list[Row]) -> tuple[list[StoredEvent], Writing]:
        ids = [UUID(bytes=row[0]) for row in rows]
        keys, write = self.ledger.patient_keys.keys_for_new(self.new_patients(ids, rows))
        self.keys.update(keys)
        cipher = self.ledger.mapper.cipher
        states = [
            self.state(rid, head, stored) for rid, (_, _, _, head, stored) in zip(ids, rows, strict=True)
        ]
        return [
            StoredEvent(rid, version, topic, cipher.encrypt(state) if cipher else state)
            for rid, (_, version, topic, _, _), state in zip(ids, rows, states, strict=True)
        ], write

    def new_patients(self, ids: list[UUID], rows: list[Row]) -> dict[UUID, str]:
        """Each new referral's patient identity (as the writer computes it from the fact)."""
        return {
            rid: self.identity(stored["data"]["patient"])
            for rid, (_, _, _, _, stored) in zip(ids, rows, strict=True)
            if stored is not None and stored["type"] == "ReferralReceived"
        }

    def identity(self, patient: dict[str, Any]) -> str:
        keys = self.ledger.patient_keys
        return keys.identity(patient["given_name"], patient["family_name"], patient["birth_date"])

    def state(self, referral_id: UUID, head: bytes, stored: dict[str, Any] | None) -> bytes:
        """The whole plain state: as it came, or the head and the fact sealed (`sealed_fact`)."""
        if stored is None:
            return head
        if (key := self.keys.get(referral_id)) is not None:
            stored = {**stored, "data": seal(stored["type"], stored["data"], key, stored["event_id"])}
        return head + ENCODER.encode(stored).encode() + b"}"


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
