"""Attack: read every byte the stores and views keep, looking for a canary patient.

A referral whose patient name, birth date, diagnosis text and consult findings are a unique
canary goes through the real path (the writer's `record_batch`, feedback deciding on it, the
projector), then every byte of the database files (SQLite: each file, WAL included) or every
row of every table as text (PostgreSQL) is searched. With the store key: no trace. Without it:
the canary's name is found in the views, so the scan can find what it looks for (the referrals
store and feedback's cases seal PHI under the patient's data key in any case).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from uuid import uuid4

from pydantic import SecretStr

from contracts.events import ConsultSummary, PatientSeen
from referral_loop.domain.deadlines import deadline_policy
from referral_loop.keys import new_key
from referral_loop.settings import Settings
from referral_loop.store.config import connect_postgres, open_ledger
from referral_loop.store.follower import read_page
from referral_loop.store.ledger import Outcome, Positioned
from services.feedback.bootstrap import open_feedback_ledger
from services.projections.db import Database
from services.projections.projector import Projector
from services.projections.queries.worklists import worklists
from tests.support import referrals as make

TOKEN = uuid4().hex[:10]
CANARIES = [f"Zyqa{TOKEN}", f"Wexo{TOKEN}", f"angina{TOKEN}", f"echo{TOKEN}", "1931-07-13"]
NAME = f"{CANARIES[0]} {CANARIES[1]}"


def submit_canary(settings: Settings) -> str:
    """The canary referral through the writer's path, feedback and the projector; the name the
    clinicians' worklist shows for it."""
    rid = uuid4()
    patient = {"given_name": CANARIES[0], "family_name": CANARIES[1], "birth_date": date(1931, 7, 13)}
    received = make.received(rid, patient=patient, reason=f"Chest pain, {CANARIES[2]}.")
    summary = ConsultSummary(
        specialist="Dr. Byron", findings=CANARIES[3], assessment="a", plan="p", recommendations="r"
    )
    seen = PatientSeen.new(rid, summary, make.STAFF)
    ledger = open_ledger(settings)
    feedback = open_feedback_ledger(settings)
    views = Database(settings)
    try:
        results = ledger.record_batch([Positioned(1, received), Positioned(2, seen)])
        assert {r.outcome for r in results.values()} == {Outcome.RECORDED}
        page = read_page(ledger, 0, 100)
        assert feedback.process(page), "feedback decided nothing on the canary"
        Projector(views, deadline_policy(settings)).process(page)
        return worklists(views, seen.recorded_at).awaiting_report[0].patient_name
    finally:
        views.close()
        feedback.close()
        ledger.close()


def traces_in_files(root: Path) -> dict[str, list[str]]:
    """Each file under `root` (SQLite databases, their WAL and journals) -> the canaries in its bytes."""
    found: dict[str, list[str]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        content = path.read_bytes()
        found[path.name] = [c for c in CANARIES if c.encode() in content]
    return found


def traces_in_tables(settings: Settings) -> dict[str, list[str]]:
    """Each table of the PostgreSQL database -> the canaries in its rows as text (bytea as hex)."""
    found: dict[str, list[str]] = {}
    with connect_postgres(settings) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
        for (table,) in tables:
            text = "\n".join(r[0] for r in conn.execute(f'SELECT t::text FROM "{table}" t').fetchall())
            found[table] = [c for c in CANARIES if c in text or c.encode().hex() in text]
    return found


def traces(settings: Settings) -> dict[str, list[str]]:
    if settings.store == "postgres":
        return traces_in_tables(settings)
    return traces_in_files(settings.data_dir)


def test_no_trace_of_the_canary_at_rest_with_the_store_key(store_settings: Settings) -> None:
    settings = store_settings.model_copy(update={"store_key": SecretStr(new_key())})
    assert submit_canary(settings) == NAME, "the clinicians' worklist must still show the name"
    found = traces(settings)
    assert len(found) >= 3, f"the scan missed the stores: {sorted(found)}"
    assert {where: hits for where, hits in found.items() if hits} == {}


def test_without_the_key_the_scan_finds_the_canary_in_every_store(store_settings: Settings) -> None:
    assert submit_canary(store_settings) == NAME
    found = traces(store_settings)
    postgres = store_settings.store == "postgres"
    names = ["referrals_events", "feedback_events", "referral_view"] if postgres else STORE_FILES
    where = dict(zip(["referrals", "feedback", "views"], names, strict=True))
    hits = {
        store: {c for w, h in found.items() if w.startswith(name) for c in h} for store, name in where.items()
    }
    # the referrals store and feedback's cases seal PHI under the patient's data key even without
    # a store key (kept unwrapped then): the scan finds no text there; the views keep it in clear
    assert hits == {"referrals": set(), "feedback": set(), "views": set(CANARIES[:2])}


STORE_FILES = ["store.sqlite", "feedback.sqlite", "views.sqlite"]
