"""The benchmark's fast seeding writes, event for event, the store the writer's path writes."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bench import lifecycles, read_side, seed_store
from referral_loop.keys import new_key
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.ledger import Outcome, Positioned, ReferralLedger
from referral_loop.store.opening import open_facts
from referral_loop.store.patient_keys import KEYS, REFERRALS
from tests.support.servers import PostgresParams, fresh_postgres_database

FACTS = 3000
BATCH = 250
SMALL_BATCH, PREFIX = 50, 2000
"""A prefix is whole transactions of the seeding (20 batches each): two of 1,000 facts."""


def recorded_by_the_writer_path(settings: Settings) -> None:
    ledger = open_ledger(settings)
    try:
        facts = list(lifecycles.facts(FACTS, clinics=20))
        for start in range(0, FACTS, BATCH):
            batch = [Positioned(start + i + 1, f) for i, f in enumerate(facts[start : start + BATCH])]
            outcomes = {r.outcome for r in ledger.record_batch(batch).values()}
            assert outcomes == {Outcome.RECORDED}, "the generator made a lifecycle the store refuses"
    finally:
        ledger.close()


def log_of(settings: Settings) -> list[tuple[Any, ...]]:
    """Every notification with its state decoded and its PHI opened, the event's own timestamp
    and the random parts of sealing (key ids, boxes) left out; then the tracked positions and
    which referrals share a patient key."""
    ledger = open_ledger(settings)
    try:
        notes = ledger.recorder.select_notifications(1, limit=FACTS + 1)
        tracked = ledger.recorder.tracked_positions("nats:REFERRALS", range(1, FACTS + 2))  # type: ignore[attr-defined]
        cipher = ledger.mapper.cipher
        if cipher is not None:
            assert not any(b'"fact"' in n.state for n in notes), "an event in clear in an encrypted store"
        states = [json.loads(cipher.decrypt(n.state) if cipher else n.state) for n in notes]
        return [
            (n.id, n.originator_id, n.originator_version, n.topic, *opened(ledger, s))
            for n, s in zip(notes, states, strict=True)
        ] + [("tracked", sorted(tracked)), ("patients", patients(ledger))]
    finally:
        ledger.close()


def opened(ledger: ReferralLedger, state: dict[str, Any]) -> tuple[Any, ...]:
    """The event's attributes but its timestamp, the fact opened, and the paths sealed."""
    stored = state.pop("fact")
    state.pop("timestamp")
    sealed = stored["data"].get("sealed")
    [(fact, key_id)] = open_facts(ledger.patient_keys, [stored])
    assert (key_id is None) == (sealed is None)
    return state, fact.model_dump(mode="json"), sealed and sealed["paths"]


def patients(ledger: ReferralLedger) -> list[list[str]]:
    """The referrals of each patient key (sorted), and how many keys the store holds."""
    with ledger.recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
        cursor.execute(f"SELECT referral_id, key_id FROM {REFERRALS}")
        notes = [tuple(row.values()) if isinstance(row, dict) else tuple(row) for row in cursor.fetchall()]
        cursor.execute(f"SELECT COUNT(*) FROM {KEYS}")
        row = cursor.fetchone()
        keys = next(iter(row.values())) if isinstance(row, dict) else row[0]
    return [*sorted(grouped(notes)), [f"{keys} keys"]]


def grouped(notes: Iterable[tuple[str, str]]) -> list[list[str]]:
    by_key: dict[str, list[str]] = {}
    for referral_id, key_id in notes:
        by_key.setdefault(key_id, []).append(referral_id)
    return [sorted(referrals) for referrals in by_key.values()]


def other_store(
    store_settings: Settings, request: pytest.FixtureRequest, tmp_path: Path, name: str
) -> Settings:
    """A second empty store of the same kind."""
    if store_settings.store == "postgres":
        database: PostgresParams = fresh_postgres_database(request.getfixturevalue("postgres_server"))
        return database.settings(data_dir=tmp_path / name)
    return Settings(store="sqlite", data_dir=tmp_path / name, sqlite_path=tmp_path / f"{name}.sqlite")


@pytest.mark.parametrize("key", [None, new_key()], ids=["in-clear", "encrypted"])
def test_seeding_writes_what_the_writer_records(
    store_settings: Settings, request: pytest.FixtureRequest, tmp_path: Path, key: str | None
) -> None:
    store_settings = store_settings.model_copy(update={"store_key": key and SecretStr(key)})
    direct = other_store(store_settings, request, tmp_path, "direct").model_copy(
        update={"store_key": key and SecretStr(key)}
    )
    recorded_by_the_writer_path(store_settings)
    seed_store.seed(direct, FACTS, progress=None, clinics=20, batch=BATCH)
    expected, seeded = log_of(store_settings), log_of(direct)
    assert len(seeded) == FACTS + 2 and seeded[-2] == ("tracked", list(range(1, FACTS + 1)))
    assert any(event[-1] for event in seeded[:FACTS]), "no fact had PHI to seal"
    assert seeded == expected


def test_a_prefix_store_holds_the_first_facts_of_the_same_log(
    store_settings: Settings, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Seeded on its own, or (SQLite) copied when the whole store held them: the same facts."""
    key = SecretStr(new_key())
    whole = store_settings.model_copy(update={"store_key": key})
    alone = other_store(store_settings, request, tmp_path, "alone").model_copy(update={"store_key": key})
    copied = tmp_path / "copied.sqlite"
    after = (
        {PREFIX: lambda: read_side.copy_sqlite(whole.sqlite_file, copied)} if whole.store == "sqlite" else {}
    )
    seed_store.seed(whole, FACTS, progress=None, clinics=20, batch=SMALL_BATCH, after=after)
    seed_store.seed(alone, PREFIX, progress=None, clinics=20, batch=SMALL_BATCH, of=FACTS)
    events = log_of(whole)[:FACTS]
    assert log_of(alone)[: PREFIX + 1] == [*events[:PREFIX], ("tracked", list(range(1, PREFIX + 1)))]
    if after:
        assert log_of(whole.model_copy(update={"sqlite_path": copied}))[:PREFIX] == events[:PREFIX]


def test_hooks_run_after_whole_transactions(store_settings: Settings) -> None:
    with pytest.raises(ValueError, match="whole transactions"):
        seed_store.seed(store_settings, FACTS, progress=None, batch=BATCH, after={BATCH: lambda: None})
