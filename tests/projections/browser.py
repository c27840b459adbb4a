"""Helpers for the ops app tests: a seeded scenario, the read models and store fed with it, live servers.

The scenario, January to June 2026: Harbor refers steadily, Lakeside stops after March (lapsed
in June), Summit drops from 4 a month to 1 in June (declining). One Harbor referral from March
was recorded only in July (a late entry: missing "as known on" 30 June). Three June referrals
are on the worklists, each with its own patient.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from contracts import Fact
from referral_loop.domain.deadlines import deadline_policy
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.follower import Recorded
from referral_loop.store.ledger import Outcome, Positioned
from referral_loop.web.users import ensure_local_users
from services.projections.app import create_app
from services.projections.db import Database
from services.projections.projector import Projector
from tests.support import referrals as make
from tests.support.signin import signed_in_client

CLINICS = {
    "reports@harbor.example": ("Harbor Family Medicine", "Dr. Grace Hopper", "1234567893"),
    "reports@lakeside.example": ("Lakeside Pediatrics", "Dr. Alan Turing", "1987654328"),
    "reports@summit.example": ("Summit Internal Medicine", "Dr. Katherine Johnson", "1555123458"),
}
HARBOR, LAKESIDE, SUMMIT = CLINICS
MONTHS = ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"]
MONTHLY = {
    HARBOR: [2, 3, 2, 4, 2, 3],
    LAKESIDE: [3, 3, 4, 0, 0, 0],
    SUMMIT: [4, 4, 4, 4, 4, 1],
}
"""Referrals per month of MONTHS, as known now (Harbor's March includes the late entry)."""
PREVIOUS_YEAR = {HARBOR: {"2025-02": 1}, LAKESIDE: {"2025-03": 2}, SUMMIT: {}}
LATE_ENTRY = (HARBOR, "2026-03", datetime(2026, 7, 1, 9, 0, tzinfo=UTC))
WORKLIST_PATIENTS = {
    "to_schedule": "Mary Somerville",
    "awaiting": "Emmy Noether",
    "scheduled": "Sophie Germain",
}
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def at(month: str, day: int, hour: int = 10) -> datetime:
    return datetime(int(month[:4]), int(month[5:]), day, hour, 0, tzinfo=UTC)


def dated(fact: Fact, occurred: datetime, recorded: datetime | None = None) -> Fact:
    return fact.model_copy(
        update={"occurred_at": occurred, "recorded_at": recorded or occurred + timedelta(hours=1)}
    )


def referral(
    clinic_key: str, occurred: datetime, patient: str = "Ada Lovelace", recorded: datetime | None = None
) -> Fact:
    name, provider, npi = CLINICS[clinic_key]
    given, family = patient.split()
    body: dict[str, Any] = make.referral_body()
    body["patient"] |= {"given_name": given, "family_name": family}
    body["referring_clinic"] |= {"name": name, "report_email": clinic_key}
    body["referring_provider"] = {"name": provider, "npi": npi}
    return dated(make.received(uuid4(), **body), occurred, recorded)


def monthly_referrals() -> list[Fact]:
    facts = []
    for key, counts in MONTHLY.items():
        for month, count in zip(MONTHS, counts, strict=True):
            late = (key, month) == LATE_ENTRY[:2]
            facts += [referral(key, at(month, 3 + i)) for i in range(count - late)]
            facts += [referral(key, at(month, 20), recorded=LATE_ENTRY[2])] if late else []
        for month, count in PREVIOUS_YEAR[key].items():
            facts += [referral(key, at(month, 8 + i)) for i in range(count)]
    return facts


def worklist_referrals() -> tuple[list[Fact], dict[str, UUID]]:
    """Three June referrals (counted in MONTHLY): to schedule, seen awaiting its report, scheduled."""
    names = WORKLIST_PATIENTS
    waiting = referral(HARBOR, at("2026-06", 25), names["to_schedule"])
    seen = referral(HARBOR, at("2026-06", 26), names["awaiting"])
    booked = referral(SUMMIT, at("2026-06", 27), names["scheduled"])
    later = [
        dated(make.scheduled(seen.referral_id, at("2026-06", 29)), at("2026-06", 27)),
        dated(make.seen(seen.referral_id), at("2026-06", 29, 15)),
        dated(make.scheduled(booked.referral_id), at("2026-06", 28)),
    ]
    ids = {"to_schedule": waiting.referral_id, "awaiting": seen.referral_id, "scheduled": booked.referral_id}
    return [waiting, seen, booked, *later], ids


def scenario() -> tuple[list[Fact], dict[str, UUID]]:
    """Every fact in recording order (the late entry last), and the worklist referrals' ids."""
    worklist, ids = worklist_referrals()
    monthly = monthly_referrals()
    # The worklist referrals are three of the June referrals in MONTHLY: drop as many plain June ones.
    for key in (HARBOR, HARBOR, SUMMIT):
        plain = next(
            f for f in monthly if f.occurred_at.strftime("%Y-%m") == "2026-06" and clinic_of(f) == key
        )
        monthly.remove(plain)
    facts = sorted(monthly + worklist, key=lambda f: f.recorded_at)
    return facts, ids


def clinic_of(fact: Fact) -> str:
    email: str = fact.data.referring_clinic.report_email
    return email


def project(settings: Settings, facts: list[Fact]) -> None:
    db = Database(settings, settings.views_sqlite_file)
    Projector(db, deadline_policy(settings)).process([Recorded(i + 1, f) for i, f in enumerate(facts)])
    db.close()


def record(settings: Settings, facts: list[Fact]) -> None:
    ledger = open_ledger(settings)
    results = ledger.record_batch([Positioned(i + 1, f) for i, f in enumerate(facts)])
    ledger.close()
    assert {r.outcome for r in results.values()} == {Outcome.RECORDED}, results


@dataclass
class Ops:
    """The ops app in-process over the seeded read models, with the local users' passwords."""

    app: FastAPI
    settings: Settings
    passwords: dict[str, str]
    ids: dict[str, UUID]

    def client(self, user: str | None = "intake") -> httpx.AsyncClient:
        """An API client with HTTP Basic (worklists name patients: not for ops)."""
        auth = (user, self.passwords[user]) if user else None
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(transport=transport, base_url="http://ops.test", auth=auth)

    def page_client(self, user: str = "intake") -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient]:
        """A client signed in to the dashboard through the sign-in form (a session cookie)."""
        return signed_in_client(self.app, user, self.passwords[user], base_url="https://ops.test")


def seeded_ops(settings: Settings) -> Ops:
    users = ensure_local_users(settings.users_path)
    facts, ids = scenario()
    project(settings, facts)
    passwords = {name: u["password"] for name, u in users.items()}
    return Ops(create_app(settings), settings, passwords, ids)


@contextlib.contextmanager
def opened_ops(settings: Settings) -> Iterator[Ops]:
    """`seeded_ops`, its views and audit log closed afterwards (the fixtures of the API tests)."""
    seeded = seeded_ops(settings)
    try:
        yield seeded
    finally:
        seeded.app.state.db.close()
        seeded.app.state.audit.close()


@contextlib.contextmanager
def serving(app: FastAPI, port: int) -> Iterator[str]:
    """`app` under uvicorn on 127.0.0.1:`port` in a thread (lifespan included) until the block ends."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def require_chromium() -> str:
    """Debian's chromium: missing is a failure, not a skip (the dashboard must be proven in a browser)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install Debian's `chromium` package "
            "(`make test` installs it, or says how: .ci/chromium.sh) to run the dashboard browser test",
            pytrace=False,
        )
    return str(CHROMIUM)
