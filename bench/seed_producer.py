"""The seeding's producer: a child process that generates the realistic facts, puts each of the
store writer's batches in the order the writer saves it, and turns every fact into its stored
event's plain state, one store transaction's worth (a chunk) at a time, while the parent process
seals, encrypts and inserts the chunk before (`bench/seed_store.py`). Generating is half of
seeding's CPU: on two cores the two halves overlap.

A fact without PHI leaves here as its whole state. A fact with PHI leaves as the state's head and
the fact as the store keeps it (a dict): its patient's data key is the parent's to find or make,
in the store, and the parent seals it as the writer does. A chunk crosses the process boundary
as plain tuples (`Row`): pickling pydantic facts or `StoredEvent`s would cost several times that.
"""

from __future__ import annotations

import itertools
import multiprocessing
import queue
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.utils import get_topic

from bench import lifecycles
from contracts import Fact
from referral_loop.store.patient_phi import has_phi
from referral_loop.store.referral import Referral, as_stored
from services.projections.rebuild_pace import collecting_rarely

Row = tuple[bytes, int, str, bytes, dict[str, Any] | None]
"""A stored event before sealing and encryption: originator id (16 bytes), version, topic, and
either the plain state and None, or the state's head and the fact as stored, to be sealed."""
T = TypeVar("T")
CREATED = get_topic(Referral)
QUEUED_CHUNKS = 4
"""Chunks the producer may run ahead of the parent (a chunk of 5,000 facts is ~4 MB)."""
POLL_S = 1.0


def chunks(events: int, log: int, clinics: int, batch: int, per_chunk: int) -> Iterator[list[Row]]:
    """The rows of the first `events` facts of a log of `log`, `per_chunk` facts (whole batches
    of `batch`) at a time."""
    versions: dict[UUID, int] = {}
    for chunk in batched(itertools.islice(lifecycles.facts(log, clinics), events), per_chunk):
        yield [
            row for part in batched(chunk, batch) for row in rows(in_saving_order(part, versions), versions)
        ]


def in_saving_order(chunk: list[Fact], known: dict[UUID, int]) -> list[Fact]:
    """A batch's facts in the order the writer saves them, referral by referral: first those it
    loaded from the store (in the store's order of ids), then the new ones as the batch met them."""
    first: dict[UUID, int] = {}
    for index, fact in enumerate(chunk):
        first.setdefault(fact.referral_id, index)
    order = {rid: (0, rid.hex, 0) if rid in known else (1, "", i) for rid, i in first.items()}
    return sorted(chunk, key=lambda fact: order[fact.referral_id])


def rows(facts: list[Fact], versions: dict[UUID, int]) -> list[Row]:
    """The stored events of these facts as the Referral aggregate's mapper writes them, before
    sealing (facts with PHI) and the store's cipher: the parent's."""
    now = datetime.now(UTC).isoformat()
    return [row(fact, versions, now) for fact in facts]


def row(fact: Fact, versions: dict[UUID, int], timestamp: str) -> Row:
    version = versions[fact.referral_id] = versions.get(fact.referral_id, 0) + 1
    found = (fact.referral_id.bytes, version, topic_of(fact))
    if has_phi(fact.type):
        return (*found, head(fact, timestamp), as_stored(fact))
    return (*found, head(fact, timestamp) + fact.model_dump_json().encode() + b"}", None)


def topic_of(fact: Fact) -> str:
    return f"{CREATED}.{fact.type}"


def head(fact: Fact, timestamp: str) -> bytes:
    """What eventsourcing's JSONTranscoder writes for the event before its fact: its timestamp,
    and the originator's topic on the created event. The fact follows as JSON, then `}`."""
    created = f'"originator_topic":"{CREATED}",' if fact.type == "ReferralReceived" else ""
    return f'{{"timestamp":{{"_type_":"datetime_iso","_data_":"{timestamp}"}},{created}"fact":'.encode()


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def produce(out: multiprocessing.Queue[list[Row] | str | None], *args: int) -> None:
    """The child's work: every chunk, then None; a failure's description instead if one fails."""
    try:
        # what the fork inherited is frozen: neither scanned nor copied; a chunk's facts and rows
        # live until sent, and rescanning them was a seventh of the child's time
        with collecting_rarely():
            for chunk in chunks(*args):
                out.put(chunk)
        out.put(None)
    except BaseException as error:
        out.put(f"{type(error).__name__}: {error}")
        raise


@contextmanager
def produced(
    events: int, log: int, clinics: int, batch: int, per_chunk: int
) -> Iterator[Iterator[list[Row]]]:
    """The chunks of `chunks(...)`, generated in a forked child process; it is stopped on exit."""
    context = multiprocessing.get_context("fork")  # the child needs nothing re-imported
    out: multiprocessing.Queue[list[Row] | str | None] = context.Queue(QUEUED_CHUNKS)
    child = context.Process(
        target=produce,
        args=(out, events, log, clinics, batch, per_chunk),
        name="bench-seed-producer",
        daemon=True,
    )
    child.start()
    try:
        yield received(out, child)
    finally:
        if child.is_alive():
            child.terminate()
        child.join()
        out.close()


def received(out: multiprocessing.Queue[list[Row] | str | None], child: BaseProcess) -> Iterator[list[Row]]:
    while True:
        try:
            item = out.get(timeout=POLL_S)
        except queue.Empty:
            if not child.is_alive() and out.empty():
                raise RuntimeError(f"the seeding's producer exited with {child.exitcode}") from None
            continue
        if item is None:
            return
        if isinstance(item, str):
            raise RuntimeError(f"the seeding's producer failed: {item}")
        yield item
