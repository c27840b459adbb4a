"""A forgotten patient in the views: shown as [forgotten] on every referral, counts unchanged, a
rebuild from the store agreeing with the live views, and their name gone from the views' files.

Given facts recorded in a real referrals store and followed into the views as the live projector
does; when a patient is forgotten (their data key destroyed, PatientForgotten recorded on each of
their referrals); then the views, followed on, and rebuilt from the store.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date
from uuid import UUID, uuid4

import pytest

from contracts.events import ConsultSummary, PatientSeen
from contracts.forgetting import FORGOTTEN
from referral_loop.domain.deadlines import deadline_policy
from referral_loop.settings import Settings
from referral_loop.store.follower import Recorded
from services.projections.db import Database
from services.projections.projector import Projector
from services.projections.queries.worklists import worklists
from services.projections.rebuild import rebuild
from services.projections.sealing import PREFIX
from tests.projections import seed
from tests.projections.forgetting import (
    Seeded,
    Store,
    answers,
    cms50_answers,
    follow,
    keyed,
    names,
    ops_app,
    tables,
)
from tests.security.test_at_rest import CANARIES, traces
from tests.support import referrals as make


@pytest.fixture
def seeded(store_settings: Settings) -> Iterator[Seeded]:
    settings = keyed(store_settings)
    store, db, history = Store(settings), Database(settings), seed.history()
    store.record([r.fact for r in history.pages()])
    follow(settings, db)
    yield Seeded(settings, store, db, history.ids)
    db.close()


def test_every_referral_of_a_forgotten_patient_shows_forgotten_and_no_other(seeded: Seeded) -> None:
    assert seeded.name("rita-first") == seeded.name("rita-second") == "Rita Repeat"
    rita = seeded.forget("rita-second")
    assert rita == {str(seeded.ids["rita-first"]), str(seeded.ids["rita-second"])}
    shown = names(seeded.db)
    assert len(shown) == 158 and {rid for rid, name in shown.items() if name == FORGOTTEN} == rita
    assert seeded.name("sam-first") == seeded.name("sam-second") == "Sam Shared"
    sam = {str(seeded.ids["sam-first"]), str(seeded.ids["sam-second"])}
    others = [name for rid, name in shown.items() if rid not in rita | sam]
    assert all(name and name.startswith("Pat Seed") for name in others)
    closed = worklists(seeded.db, seed.NOW).closed
    (item,) = [i for i in closed if i.referral_id == str(seeded.ids["rita-second"])]
    assert item.patient_name == FORGOTTEN and item.status == "closed"


async def test_the_api_its_csv_and_the_dashboard_show_forgotten(seeded: Seeded) -> None:
    rid, name = str(seeded.ids["oct-C3"]), seeded.name("oct-C3")
    assert seeded.forget("oct-C3") == {rid} and name and name.startswith("Pat Seed")
    with ops_app(seeded.settings) as ops:
        async with ops.client() as api, ops.page_client() as pages:
            listed = (await api.get("/api/worklists")).json()["to_schedule"]
            csv = (await api.get("/api/worklists", params={"list": "to_schedule", "format": "csv"})).text
            dashboard = (await pages.get("/")).text
    assert [i["patient_name"] for i in listed if i["referral_id"] == rid] == [FORGOTTEN]
    assert f"{rid},{FORGOTTEN}," in csv and f">{FORGOTTEN}</a>" in dashboard
    assert name not in csv + dashboard


def test_counts_kpis_trends_and_cms50_stay_the_same(seeded: Seeded) -> None:
    before = answers(seeded.db)
    assert cms50_answers(before) == seed.CMS50_2025  # Rita and Sam counted once practice-wide
    seeded.forget("rita-first")
    seeded.forget("sam-second")
    assert seeded.name("rita-second") == seeded.name("sam-first") == FORGOTTEN
    assert answers(seeded.db) == before


def test_a_rebuild_after_forgetting_gives_the_live_views(seeded: Seeded) -> None:
    seeded.forget("sam-first")
    live, live_answers = tables(seeded.db), answers(seeded.db)
    assert rebuild(seeded.settings, io.StringIO()) == live[2]
    assert tables(seeded.db) == live and answers(seeded.db) == live_answers
    assert seeded.name("sam-first") == seeded.name("sam-second") == FORGOTTEN  # once, not per name


def test_a_rebuild_shows_a_patient_forgotten_before_patient_forgotten_was_recorded(seeded: Seeded) -> None:
    """The forget-patient command destroyed the key and stopped: the store reads the patient's
    facts with placeholders, and a rebuild shows the name once, the counts as they were."""
    before = answers(seeded.db)
    seeded.store.destroy_key(seeded.ids["rita-second"])
    rebuild(seeded.settings, io.StringIO())
    assert seeded.name("rita-first") == seeded.name("rita-second") == FORGOTTEN
    assert answers(seeded.db) == before


def test_a_patients_referrals_are_grouped_by_their_data_key(store_settings: Settings) -> None:
    """The key id groups them (names no longer can once forgotten); no key id: name and birth date."""
    settings = keyed(store_settings)
    db = Database(settings)
    ada, also_ada = make.received(), make.received(patient=SOMEONE)
    page = [Recorded(1, ada, "key-1"), Recorded(2, also_ada, "key-1"), Recorded(3, make.received())]
    Projector(db, deadline_policy(settings)).process(page)
    keys: dict[str, str] = dict(db.query("SELECT referral_id, patient_key FROM referral_view"))
    assert (
        keys[str(ada.referral_id)] == keys[str(also_ada.referral_id)] != keys[str(page[2].fact.referral_id)]
    )
    assert len({*keys.values(), "key-1"}) == 3  # keyed under the views' key, not the id itself
    db.close()


SOMEONE = {"given_name": "Some", "family_name": "One", "birth_date": "1990-01-01"}


def test_forgotten_in_the_page_that_brought_the_referral(store_settings: Settings) -> None:
    """The name is sealed once (not the sealed placeholder sealed again); nothing else changes;
    PatientForgotten on a referral the views do not have adds nothing."""
    settings = keyed(store_settings)
    db = Database(settings)
    projector = Projector(db, deadline_policy(settings))
    received, later = make.received(), make.received()
    projector.process([Recorded(1, received), Recorded(2, make.forgotten(received.referral_id))])
    projector.process([Recorded(3, make.forgotten(uuid4())), Recorded(4, later)])
    columns = "status, updated_at, received_recorded_at"
    before = db.query(f"SELECT {columns} FROM referral_view WHERE referral_id = ?", [str(later.referral_id)])
    projector.process([Recorded(5, make.forgotten(later.referral_id))])
    assert names(db) == {str(received.referral_id): FORGOTTEN, str(later.referral_id): FORGOTTEN}
    assert all(name.startswith(PREFIX) for (name,) in db.query("SELECT patient_name FROM referral_view"))
    after = db.query(f"SELECT {columns} FROM referral_view WHERE referral_id = ?", [str(later.referral_id)])
    assert after == before and before[0][1] == before[0][2]
    db.close()


def canary_referral(store: Store) -> UUID:
    """A referral whose patient name, birth date, reason and findings are test_at_rest's canaries."""
    rid = uuid4()
    patient = {"given_name": CANARIES[0], "family_name": CANARIES[1], "birth_date": date(1931, 7, 13)}
    summary = ConsultSummary(
        specialist="Dr. Byron", findings=CANARIES[3], assessment="a", plan="p", recommendations="r"
    )
    received = make.received(rid, patient=patient, reason=f"Chest pain, {CANARIES[2]}.")
    store.record([received, make.scheduled(rid), PatientSeen.new(rid, summary, make.STAFF), make.received()])
    return rid


@pytest.mark.parametrize("store_key", [False, True], ids=["names-in-clear", "names-sealed"])
def test_the_forgotten_name_leaves_no_trace_in_the_views(store_settings: Settings, store_key: bool) -> None:
    """Every byte of the views (SQLite: the file and its WAL; PostgreSQL: every row as text) and
    of the store, before and after the forgetting, then after a rebuild."""
    settings = keyed(store_settings) if store_key else store_settings
    store, db = Store(settings), Database(settings)
    rid = canary_referral(store)
    follow(settings, db)
    assert names(db)[str(rid)] == f"{CANARIES[0]} {CANARIES[1]}"
    in_views = {c for where, found in traces(settings).items() if where.startswith(VIEWS) for c in found}
    assert in_views == (set() if store_key else set(CANARIES[:2]))  # the scan sees names in clear
    db.scrub()  # as SQLite's own checkpoints do in time: the name is in the file itself, not only its WAL
    store.forget(rid)
    follow(settings, db)
    assert names(db)[str(rid)] == FORGOTTEN
    assert {where: found for where, found in traces(settings).items() if found} == {}
    rebuild(settings, io.StringIO())
    assert {where: found for where, found in traces(settings).items() if found} == {}
    db.close()


VIEWS = ("views.sqlite", "referral_view")
