"""Ops see the facts the projector set aside: on the dashboard, in GET /api/quarantine (ops and
admins, audited), and from `referral-loop report quarantine`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from referral_loop.domain.deadlines import deadline_policy
from referral_loop.settings import Settings
from referral_loop.store.quarantine import SetAside
from referral_loop.web.audit import AuditQuery
from services.projections.db import Database
from services.projections.projector import Projector
from services.projections.report_cli import main as report
from tests.projections.browser import Ops, opened_ops

REASON = "failed validation: fact.ReturnVisitScheduled.data.return_visit_on: Input should be greater than or equal to 1990-01-01"


@pytest.fixture
def ops(tmp_path: Path) -> Iterator[Ops]:
    settings = Settings(
        data_dir=tmp_path, sqlite_path=tmp_path / "store.sqlite", public_url="http://intake.test"
    )
    with opened_ops(settings) as opened:
        db = Database(settings)
        projector = Projector(db, deadline_policy(settings))
        referral = opened.ids["poisoned"] = uuid4()
        entry = SetAside(projector.position() + 1, "ReturnVisitScheduled", REASON, str(referral))
        projector.process([], [entry])
        db.close()
        yield opened


async def test_ops_list_the_facts_set_aside_and_the_reading_is_audited(ops: Ops) -> None:
    async with ops.client("ops") as client:
        response = await client.get("/api/quarantine")
    assert response.status_code == 200
    [entry] = response.json()
    assert entry["fact_type"] == "ReturnVisitScheduled" and entry["reason"] == REASON
    assert entry["referral_id"] == str(ops.ids["poisoned"]) and entry["follower"] == "projections"
    read = ops.app.state.audit.query(AuditQuery(who="ops", what="quarantine"))
    assert [e.outcome for e in read] == ["allowed"]


async def test_intake_staff_may_not_list_them(ops: Ops) -> None:
    async with ops.client("intake") as client:
        assert (await client.get("/api/quarantine")).status_code == 403


async def test_the_dashboard_shows_them(ops: Ops) -> None:
    async with ops.page_client("ops") as client:
        page = (await client.get("/")).text
    reference = f"RL-{ops.ids['poisoned'].hex[:8].upper()}"
    assert "Facts set aside (1)" in page and reference in page and "ReturnVisitScheduled" in page


def test_the_report_command_prints_them(ops: Ops, capsys: pytest.CaptureFixture[str]) -> None:
    assert report(ops.settings, ["quarantine"]) == 0
    out = capsys.readouterr().out
    assert "Facts the projector set aside: 1" in out and "ReturnVisitScheduled" in out
    assert report(ops.settings, ["quarantine", "--csv"]) == 0
    assert capsys.readouterr().out.startswith("position,follower,fact_type,reason")
