"""Attack: shred a patient, then rebuild the read models from the store, and look for them.

The views are built live from the store, `forget-patient` runs through the real nats-server and
store writer, the live projector follows the PatientForgotten facts, then `referral-loop
rebuild` replays the whole store (on both cores). The rebuilt views show the patient as
`[forgotten]` on both referrals, the other patient intact, the same counts as before, and no
byte of the canary in the views' files (SQLite) or rows (PostgreSQL).
"""

from __future__ import annotations

from contextlib import closing
from typing import Any

from referral_loop.domain.deadlines import deadline_policy
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.follower import read_page
from services.projections.db import Database
from services.projections.projector import Projector
from services.projections.rebuild import rebuild
from tests.security.test_forget_patient import CANARIES, OTHER, Stack, forget, stack, submitted

__all__ = ["stack"]  # the fixture, shared with test_forget_patient


def follow(settings: Settings) -> None:
    """The live projector: every fact in the store applied to the views."""
    db = Database(settings)
    try:
        projector = Projector(db, deadline_policy(settings))
        with closing(open_ledger(settings)) as ledger:
            while page := read_page(ledger, projector.position(), 500):
                projector.process(page)
    finally:
        db.close()


def views(settings: Settings) -> tuple[dict[str, str | None], list[tuple[Any, ...]]]:
    """Each referral's patient name as staff read it, and every volume counter."""
    db = Database(settings)
    try:
        names = {
            r[0]: db.sealer.open(r[1])
            for r in db.query("SELECT referral_id, patient_name FROM referral_view")
        }
        return names, sorted(tuple(r) for r in db.query("SELECT * FROM volume_monthly"))
    finally:
        db.close()


def canary_in_views(settings: Settings) -> list[str]:
    """The canary's names found in the views: every byte of their SQLite files (WAL included),
    or every row of the views table as text (PostgreSQL)."""
    names = [c.encode() for c in CANARIES[:2]]
    if settings.store == "postgres":
        db = Database(settings)
        try:
            text = "\n".join(str(r) for r in db.query("SELECT * FROM referral_view")).encode()
        finally:
            db.close()
    else:
        text = b"".join(p.read_bytes() for p in settings.views_sqlite_file.parent.glob("views.sqlite*"))
    return [n.decode() for n in names if n in text]


async def test_a_shredded_patient_stays_forgotten_through_a_rebuild_and_counts_stay(stack: Stack) -> None:
    a, b, other = await submitted(stack)
    settings = stack.settings
    follow(settings)
    names_before, counts_before = views(settings)
    assert names_before[str(a)] == f"{CANARIES[0]} {CANARIES[1]}" and canary_in_views(settings)

    assert await forget(stack, b) == 0
    follow(settings)
    assert rebuild(settings) > 0
    names, counts = views(settings)
    assert {rid: names[str(rid)] for rid in (a, b)} == {a: "[forgotten]", b: "[forgotten]"}
    assert names[str(other)] == f"{OTHER} Smith"
    assert counts == counts_before, "the counts are the same after forgetting and rebuilding"
    assert canary_in_views(settings) == []
