"""A change to the users file takes effect at once (issue 14, finding 5): a person just added signs
in through the form with no API call before; a person removed can no longer sign in, and every
session they had, in intake and in the ops app, ends at their next request (and is deleted); a new
password or another role ends the sessions opened before it."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from launcher.users_cli import run as users_command
from referral_loop.web.users_file import update_users_file
from tests.ops.support import seed
from tests.security.web_apps import Apps, both_apps, settings_in
from tests.support.referrals import received
from tests.support.signin import sign_in, signed_in_client

NAME = "temp-user"


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[Apps]:
    with both_apps(settings_in(tmp_path)) as found:
        yield found


def users(apps: Apps, capsys: pytest.CaptureFixture[str], action: str, **options: str) -> str:
    """`referral-loop users <action> temp-user ...`, as an administrator runs it; what it printed."""
    capsys.readouterr()
    assert users_command(apps.settings, argparse.Namespace(action=action, name=NAME, **options)) == 0
    return capsys.readouterr().out


def add_person(apps: Apps, capsys: pytest.CaptureFixture[str], role: str = "intake") -> str:
    return users(apps, capsys, "add", role=role).strip().rpartition("password=")[2]


def browser(apps: Apps) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=apps.intake), base_url="https://intake.test")


def sessions_of(apps: Apps, name: str) -> int:
    [(count,)] = apps.intake.state.guard.tables.run("SELECT count(*) FROM staff_sessions WHERE who = ?", name)
    return int(count)


async def test_a_person_just_added_signs_in_through_the_form_at_once(
    apps: Apps, capsys: pytest.CaptureFixture[str]
) -> None:
    async with browser(apps) as client:
        assert (await sign_in(client, "intake", apps.password("intake"))).status_code == 303
        password = add_person(apps, capsys)
        assert (await sign_in(client, NAME, password)).status_code == 303


async def test_a_removed_person_is_out_of_both_apps_at_once(
    apps: Apps, capsys: pytest.CaptureFixture[str]
) -> None:
    fact = received()
    seed(apps.settings, [fact])
    patient = f"/referrals/{fact.referral_id}"
    password = add_person(apps, capsys)
    async with (
        signed_in_client(apps.intake, NAME, password) as intake_page,
        signed_in_client(apps.ops, NAME, password) as ops_page,
        browser(apps) as api,
    ):
        shown = await intake_page.get(patient)
        assert shown.status_code == 200 and fact.data.patient.family_name in shown.text
        assert (await ops_page.get("/")).status_code == 200
        assert (await api.get(f"/api{patient}", auth=(NAME, password))).status_code == 200
        assert sessions_of(apps, NAME) == 2
        users(apps, capsys, "remove")
        gone = await intake_page.get(patient)
        assert gone.status_code == 303 and gone.headers["location"].startswith("/login")
        assert fact.data.patient.family_name not in gone.text
        assert (await ops_page.get("/")).status_code == 303
        assert sessions_of(apps, NAME) == 0  # ended server-side: the cookies are worth nothing now
        assert (await api.get(f"/api{patient}", auth=(NAME, password))).status_code == 401
        assert (await sign_in(api, NAME, password)).status_code == 401


async def test_a_new_password_or_another_role_ends_the_sessions_opened_before(
    apps: Apps, capsys: pytest.CaptureFixture[str]
) -> None:
    first = add_person(apps, capsys)
    async with signed_in_client(apps.intake, NAME, first) as before:
        second = add_person(apps, capsys)  # the password reset, say after a leak
        assert (await before.get("/referrals")).status_code == 303
    async with signed_in_client(apps.intake, NAME, second) as client:
        assert (await client.get("/referrals")).status_code == 200
        update_users_file(apps.settings.users_path, lambda data: data["users"][NAME].update(role="ops"))
        assert (await client.get("/referrals")).status_code == 303
    async with signed_in_client(apps.intake, NAME, second) as ops:
        assert (await ops.get("/referrals")).status_code == 403  # signed in again: now as ops
