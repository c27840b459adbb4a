"""A referrals store to forget patients in, and the views followed from it as the live projector does."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from pydantic import SecretStr

from contracts import Fact
from referral_loop.domain.deadlines import deadline_policy
from referral_loop.keys import new_key
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.follower import read_page
from referral_loop.store.ledger import Outcome, Positioned
from referral_loop.web.users import ensure_local_users
from services.projections.app import create_app
from services.projections.db import Database
from services.projections.models import Dimension, VolumeFilter
from services.projections.projector import Projector
from services.projections.queries.kpis import cms50, kpis, scorecards
from services.projections.queries.trends import trends
from services.projections.queries.volume import volume
from services.projections.schema import REFERRAL_COLUMNS
from tests.projections import seed
from tests.projections.browser import Ops
from tests.support import referrals as make

NAME = REFERRAL_COLUMNS.index("patient_name")


@dataclass
class Seeded:
    """The seeded history recorded in a store (with a store key) and followed into the views."""

    settings: Settings
    store: Store
    db: Database
    ids: dict[str, UUID]

    def name(self, story: str) -> str | None:
        return names(self.db)[str(self.ids[story])]

    def forget(self, story: str) -> set[str]:
        """Forget the patient of this story's referral, then follow: the ids of their referrals."""
        forgotten = {str(r) for r in self.store.forget(self.ids[story])}
        follow(self.settings, self.db)
        return forgotten


def keyed(settings: Settings) -> Settings:
    """These settings with a store key: the views' names sealed, as deployed."""
    return settings.model_copy(update={"store_key": SecretStr(new_key())})


class Store:
    """The referrals store as the writer fills it; `forget` as the forget-patient command does."""

    def __init__(self, settings: Settings) -> None:
        self.settings, self.sent = settings, 0

    def record(self, facts: Sequence[Fact]) -> None:
        ledger = open_ledger(self.settings)
        try:
            for start in range(0, len(facts), 500):
                chunk = facts[start : start + 500]
                results = ledger.record_batch([Positioned(self.sent + i + 1, f) for i, f in enumerate(chunk)])
                assert {r.outcome for r in results.values()} == {Outcome.RECORDED}
                self.sent += len(chunk)
        finally:
            ledger.close()

    def forget(self, referral_id: UUID) -> list[UUID]:
        """Destroy the patient's data key, then record PatientForgotten on each of their referrals."""
        referrals = self.destroy_key(referral_id)
        self.record([make.forgotten(r, referral_id) for r in referrals])
        return referrals

    def destroy_key(self, referral_id: UUID) -> list[UUID]:
        """Only the first step of forgetting (as when the command stopped right after it)."""
        ledger = open_ledger(self.settings)
        try:
            return ledger.patient_keys.forget(referral_id)
        finally:
            ledger.close()


@contextlib.contextmanager
def ops_app(settings: Settings) -> Iterator[Ops]:
    """The ops app over these views (as `tests.projections.browser.opened_ops`, without its scenario)."""
    users = ensure_local_users(settings.users_path)
    app = create_app(settings)
    try:
        yield Ops(app, settings, {name: u["password"] for name, u in users.items()}, {})
    finally:
        app.state.db.close()
        app.state.audit.close()


def follow(settings: Settings, db: Database, page_size: int = 300) -> int:
    """The live projector's path: every page after the views' position; the position reached."""
    ledger, projector = open_ledger(settings), Projector(db, deadline_policy(settings))
    try:
        while page := read_page(ledger, projector.position(), page_size):
            projector.process(page)
        return projector.position()
    finally:
        ledger.close()


def names(db: Database) -> dict[str, str | None]:
    """Each referral's patient name as the worklists show it."""
    rows = db.query("SELECT referral_id, patient_name FROM referral_view")
    return {rid: db.sealer.open(name) for rid, name in rows}


def tables(db: Database) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]:
    """Every row of the views, names opened (sealed ones differ by their random nonce)."""
    rows = db.query(f"SELECT {', '.join(REFERRAL_COLUMNS)} FROM referral_view ORDER BY referral_id")
    opened = [(*r[:NAME], db.sealer.open(r[NAME]), *r[NAME + 1 :]) for r in rows]
    volume_rows = db.query("SELECT * FROM volume_monthly ORDER BY dimension, key, month")
    (position,) = db.query("SELECT position FROM view_position")[0]
    return opened, volume_rows, int(position)


def span(first: str, last: str, **filters: object) -> VolumeFilter:
    return VolumeFilter.model_validate({"first_month": first, "last_month": last, **filters})


def answers(db: Database) -> dict[str, Any]:
    """What ops read: volume by every dimension, trends, KPIs, scorecards and CMS50."""
    clinics = [None, seed.HARBOR_KEY, seed.LAKESIDE, seed.NORTHSIDE, seed.VALLEY, seed.SUMMIT]
    window = span("2025-01", "2026-10")
    return {
        "volume": [volume(db, d, window, limit=100) for d in Dimension],
        "trends": [trends(db, d, "2026-10", as_of=seed.NOW) for d in (Dimension.CLINIC, Dimension.PROVIDER)],
        "kpis": kpis(db, window),
        "scorecards": scorecards(db, span("2026-01", "2026-10")),
        "cms50": [cms50(db, year, clinic) for year in (2025, 2026) for clinic in clinics],
    }


def cms50_answers(found: dict[str, Any]) -> dict[str | None, seed.Cms50Answer]:
    """CMS50 2025 per clinic (None: every office) as the seed's known answers put it."""
    return {c.clinic: (c.denominator, c.numerator, c.rate) for c in found["cms50"] if c.year == 2025}
