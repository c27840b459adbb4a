"""A rebuild replayed by several worker processes (`REBUILD_WORKERS`) gives the tables a single
process gives, and the live views; a failing worker leaves the live views and nothing else; a fact
no worker can read is set aside, and the rebuild completes.

The store holds the seeded history (tests/projections/seed.py) with sealed PHI, a forgotten
patient with two referrals, and, last, facts the views ignore (every worker must still reach
the store's end).
"""

from __future__ import annotations

import io
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import StoredEvent

from contracts.events import AcknowledgementSent
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.decoding import stored_topics
from referral_loop.store.follower import Recorded, read_page
from referral_loop.store.quarantine import SetAside
from services.projections.db import Database
from services.projections.facts import APPLIED
from services.projections.projector import Projector
from services.projections.quarantine import QuarantinedFact, quarantined
from services.projections.rebuild import rebuild
from services.projections.rebuild_parallel import RebuildFailed
from services.projections.rebuild_share import Share, ShareReader
from tests.projections import seed
from tests.projections.forgetting import Seeded, Store, answers, follow, keyed, tables
from tests.projections.test_rebuild_and_crash import delivered, leftovers


@pytest.fixture
def seeded(store_settings: Settings) -> Iterator[Seeded]:
    settings = keyed(store_settings)
    store, db, history = Store(settings), Database(settings), seed.history()
    store.record([r.fact for r in history.pages()])
    seeded = Seeded(settings, store, db, history.ids)
    seeded.forget("rita-second")
    store.record([delivered(AcknowledgementSent, rid) for rid in list(history.ids.values())[:5]])
    follow(settings, db)
    yield seeded
    db.close()


def workers(settings: Settings, count: int) -> Settings:
    return settings.model_copy(update={"rebuild_workers": count})


@pytest.mark.parametrize("count", [2, 3])
def test_a_parallel_rebuild_gives_the_single_process_tables_and_the_live_views(
    seeded: Seeded, count: int
) -> None:
    live, live_answers = tables(seeded.db), answers(seeded.db)
    assert rebuild(workers(seeded.settings, 1), io.StringIO()) == live[2]
    alone = tables(seeded.db)
    out = io.StringIO()
    assert rebuild(workers(seeded.settings, count), out) == live[2]
    assert tables(seeded.db) == alone == live and answers(seeded.db) == live_answers
    assert f"rebuild: {live[2]}/{live[2]} facts (100%)" in out.getvalue()
    assert leftovers(seeded.settings, seeded.db) == [] and multiprocessing.active_children() == []


def test_the_shares_split_the_facts_by_referral_as_the_ids_say(seeded: Seeded) -> None:
    ledger = open_ledger(seeded.settings)
    try:
        end = int(ledger.recorder.max_notification_id() or 0)
        everything = read_page(ledger, 0, end, APPLIED)
        shares = [Share(n, 3) for n in range(3)]
        read = {
            share: read_all(ShareReader(ledger, seeded.settings.store, share, APPLIED, 40), end)
            for share in shares
        }
    finally:
        ledger.close()
    for share, facts in read.items():
        assert facts and all(owns(share, r.fact.referral_id) for r in facts)
    merged = sorted((r for facts in read.values() for r in facts), key=lambda r: r.position)
    assert [(r.position, r.fact) for r in merged] == [(r.position, r.fact) for r in everything]


def owns(share: Share, referral_id: UUID) -> bool:
    """Whether `referral_id` is in `share` (the rule `shares.select_share` applies in SQL)."""
    return referral_id.bytes[-1] % share.count == share.index


def read_all(reader: ShareReader, end: int) -> list[Recorded]:
    found: list[Recorded] = []
    while page := reader.page(found[-1].position if found else 0, end):
        found += page
    return found


def test_a_failing_worker_process_leaves_the_live_views_and_nothing_else(
    seeded: Seeded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker processes (and only they: they start afresh) load a hook that breaks their
    projector with an error no fact causes; a poison fact would only be set aside."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(BREAK_THE_PROJECTOR)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")]))
    live = tables(seeded.db)
    with pytest.raises(RebuildFailed, match="rebuild worker 2 of 2 failed: RuntimeError"):
        rebuild(workers(seeded.settings, 2), io.StringIO())
    assert tables(seeded.db) == live
    assert leftovers(seeded.settings, seeded.db) == [] and multiprocessing.active_children() == []


BREAK_THE_PROJECTOR = """
from services.projections.projector import Projector
from services.projections.quarantine import QuarantinedFact, quarantined

def broken(self, page, set_aside=()):
    raise RuntimeError("the worker's views are broken")

Projector.process = broken
"""


def test_a_parallel_rebuild_sets_a_fact_aside_that_holds_no_valid_fact(seeded: Seeded) -> None:
    """A stored event of a worker's share that decodes to no fact: set aside by that worker, carried
    into the live views with the others' rows; the same as a single process gives."""
    position = corrupt(seeded, owned_by=Share(1, 2))
    rebuild(workers(seeded.settings, 1), io.StringIO())
    alone, aside_alone = tables(seeded.db), quarantined(seeded.db)
    rebuild(workers(seeded.settings, 2), io.StringIO())
    assert tables(seeded.db) == alone
    assert strip_times(quarantined(seeded.db)) == strip_times(aside_alone)
    [entry] = aside_alone
    assert (entry.position, entry.fact_type, entry.follower) == (position, "PatientSeen", "projections")
    assert "failed validation" in entry.reason


def strip_times(entries: list[QuarantinedFact]) -> list[dict[str, object]]:
    return [entry.model_dump(exclude={"set_aside_at"}) for entry in entries]


def corrupt(seeded: Seeded, owned_by: Share) -> int:
    """Record an event the store's key opens but that holds no valid fact, of a referral of this
    share, and one valid fact after it (a store's last event must be readable to open it); the
    event's position."""
    referral_id = next(r for r in iter(uuid4, None) if owns(owned_by, r))
    (topic,) = stored_topics(frozenset({"PatientSeen"}))
    ledger = open_ledger(seeded.settings)
    try:
        state = b'{"fact": "not a fact"}'
        state = ledger.mapper.cipher.encrypt(state) if ledger.mapper.cipher else state
        [position] = ledger.recorder.insert_events([StoredEvent(referral_id, 1, topic, state)]) or [0]
    finally:
        ledger.close()
    seeded.store.record([delivered(AcknowledgementSent, seeded.ids["oct-C3"])])
    return position


def test_a_failure_in_this_process_share_stops_the_workers_and_leaves_nothing(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker processes import the projector afresh: only this process's share fails."""
    live = tables(seeded.db)

    def failing(self: Projector, page: Sequence[Recorded], aside: Sequence[SetAside] = ()) -> int:
        raise RuntimeError("this process's share breaks")

    monkeypatch.setattr(Projector, "process", failing)
    with pytest.raises(RuntimeError, match="share breaks"):
        rebuild(workers(seeded.settings, 3), io.StringIO())
    assert tables(seeded.db) == live
    assert leftovers(seeded.settings, seeded.db) == [] and multiprocessing.active_children() == []


def test_the_default_is_two_workers_or_one_per_core() -> None:
    assert Settings().rebuild_workers == min(2, os.cpu_count() or 1)
