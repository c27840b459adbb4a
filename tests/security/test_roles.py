"""Access control (HIPAA 164.312(a)): every route of intake and the ops app declares its roles, and
an ops caller (aggregates only) is refused with 403 on every route that shows a patient, whether it
comes with a bearer token, HTTP Basic or a signed-in session with a valid CSRF token."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from launcher.users_cli import run as users_command
from referral_loop.ops.endpoints import Ops
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.ledger import Positioned
from referral_loop.web.auth import declared_routes
from referral_loop.web.guard import protect
from referral_loop.web.users import Role
from tests.security.web_apps import Apps, both_apps, settings_in
from tests.support.referrals import received
from tests.support.signin import signed_in_client

OPS_MAY = {
    ("GET", "/api/volume"), ("GET", "/api/trends"), ("GET", "/api/kpis"), ("GET", "/api/scorecards"),
    ("GET", "/api/cms50"), ("GET", "/"), ("POST", "/logout"), ("GET", "/api/quarantine"),
}  # fmt: skip
"""Every non-public route ops may reach, in either app: aggregates, the dashboard (without its
worklists for ops, see tests/projections/test_api.py), the facts set aside and signing out."""


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[Apps]:
    with both_apps(settings_in(tmp_path)) as found:
        yield found


def add_token(settings: Settings, name: str, role: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert users_command(settings, argparse.Namespace(action="add-token", name=name, role=role)) == 0
    return capsys.readouterr().out.strip()


def test_every_route_of_both_apps_declares_its_roles_exactly_once(apps: Apps) -> None:
    for app in (apps.intake, apps.ops):
        routes = declared_routes(app)
        assert len(routes) > 15
        undeclared = [r.path for r in routes if len(r.declarations) != 1]
        assert undeclared == []


def test_an_app_with_a_route_that_declares_no_roles_does_not_start(tmp_path: Path) -> None:
    app = FastAPI()

    @app.get("/forgotten")
    def forgotten() -> str:
        return "a patient"

    with pytest.raises(RuntimeError, match="/forgotten"):
        protect(app, settings_in(tmp_path), "test", "/", Ops("test", []))


def concrete(path: str, referral_id: str) -> str:
    return path.replace("{referral_id}", referral_id)


async def test_ops_gets_403_on_every_route_that_shows_a_patient(
    apps: Apps, capsys: pytest.CaptureFixture[str]
) -> None:
    fact = received()
    ledger = open_ledger(apps.settings)
    ledger.record_batch([Positioned(1, fact)])
    ledger.close()
    token = add_token(apps.settings, "ops-robot", "ops", capsys)
    refused = 0
    for app in (apps.intake, apps.ops):
        for route in declared_routes(app):
            [(kind, roles)] = route.declarations
            for method in route.methods - {"HEAD"}:
                if kind == "public":
                    continue
                if Role.OPS in roles:
                    assert (method, route.path) in OPS_MAY, f"ops may reach {method} {route.path}"
                    continue
                path = concrete(route.path, str(fact.referral_id))
                for answer in await as_ops(apps, app, kind, method, path, token):
                    assert answer.status_code == 403, (method, path, answer.status_code)
                    refused += 1
    assert refused >= 20 and apps.published.facts == []


async def as_ops(
    apps: Apps, app: FastAPI, kind: str, method: str, path: str, token: str
) -> list[httpx.Response]:
    """The route called by ops with every credential its kind accepts (a form with a valid CSRF token)."""
    if kind == "api":
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://app.test") as client:
            body = {"json": {}} if method == "POST" else {}
            basic = await client.request(method, path, auth=("ops", apps.password("ops")), **body)
            bearer = await client.request(method, path, headers={"Authorization": f"Bearer {token}"}, **body)
        return [basic, bearer]
    async with signed_in_client(app, "ops", apps.password("ops")) as client:
        guard = app.state.guard
        session = await guard.sessions.find(client.cookies[guard.cookie])
        data = {"csrf_token": session.csrf} if method == "POST" else None
        return [await client.request(method, path, data=data)]


async def test_a_token_acts_only_within_its_role_and_is_kept_only_as_a_hash(
    apps: Apps, capsys: pytest.CaptureFixture[str]
) -> None:
    intake_token = add_token(apps.settings, "ehr-bridge", "intake", capsys)
    clinician_token = add_token(apps.settings, "scribe", "clinician", capsys)
    assert intake_token not in apps.settings.users_path.read_text()
    transport = httpx.ASGITransport(app=apps.intake)
    async with httpx.AsyncClient(transport=transport, base_url="https://intake.test") as client:

        def bearer(token: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {token}"}

        body = received().data.model_dump(mode="json")
        assert (
            await client.post("/api/referrals", json=body, headers=bearer(intake_token))
        ).status_code == 202
        assert (
            await client.post("/api/referrals", json=body, headers=bearer(clinician_token))
        ).status_code == 403
        assert (await client.get("/api/referrals", headers=bearer(clinician_token))).status_code == 200
        assert (await client.get("/api/referrals", headers=bearer(intake_token + "x"))).status_code == 401
        revoke = argparse.Namespace(action="revoke-token", name="ehr-bridge")
        assert users_command(apps.settings, revoke) == 0
        assert (await client.get("/api/referrals", headers=bearer(intake_token))).status_code == 401
    assert [f.actor.name for f in apps.published.facts] == ["ehr-bridge"]
