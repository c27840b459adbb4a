"""The benchmark's fast seeding writes, event for event, the store the writer's path writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bench import lifecycles, seed_store
from referral_loop.keys import new_key
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.ledger import Outcome, Positioned
from tests.support.servers import PostgresParams, fresh_postgres_database

FACTS = 3000
BATCH = 250


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
    """Every notification with its state decoded, the event's own timestamp left out."""
    ledger = open_ledger(settings)
    try:
        notes = ledger.recorder.select_notifications(1, limit=FACTS + 1)
        tracked = ledger.recorder.tracked_positions("nats:REFERRALS", range(1, FACTS + 2))  # type: ignore[attr-defined]
        cipher = ledger.mapper.cipher
        if cipher is not None:
            assert not any(b'"fact"' in n.state for n in notes), "an event in clear in an encrypted store"
        states = [json.loads(cipher.decrypt(n.state) if cipher else n.state) for n in notes]
        for state in states:
            state.pop("timestamp")
        return [
            (n.id, n.originator_id, n.originator_version, n.topic, s)
            for n, s in zip(notes, states, strict=True)
        ] + [("tracked", sorted(tracked))]
    finally:
        ledger.close()


def other_store(store_settings: Settings, request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """A second empty store of the same kind."""
    if store_settings.store == "postgres":
        database: PostgresParams = fresh_postgres_database(request.getfixturevalue("postgres_server"))
        return database.settings(data_dir=tmp_path / "direct")
    return Settings(store="sqlite", data_dir=tmp_path / "direct", sqlite_path=tmp_path / "direct.sqlite")


@pytest.mark.parametrize("key", [None, new_key()], ids=["in-clear", "encrypted"])
def test_seeding_writes_what_the_writer_records(
    store_settings: Settings, request: pytest.FixtureRequest, tmp_path: Path, key: str | None
) -> None:
    store_settings = store_settings.model_copy(update={"store_key": key and SecretStr(key)})
    direct = other_store(store_settings, request, tmp_path).model_copy(
        update={"store_key": key and SecretStr(key)}
    )
    recorded_by_the_writer_path(store_settings)
    seed_store.seed(direct, FACTS, progress=None, clinics=20, batch=BATCH)
    expected, seeded = log_of(store_settings), log_of(direct)
    assert len(seeded) == FACTS + 1 and seeded[-1] == ("tracked", list(range(1, FACTS + 1)))
    assert seeded == expected
