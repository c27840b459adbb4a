"""Person authentication (HIPAA 164.312(d)): passwords kept as argon2id hashes; a PBKDF2 hash from
an earlier version still signs in once and is replaced by argon2; a wrong password or an unknown
user is refused; a repeated API call with the same credentials does not run argon2 again."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from referral_loop.web.users import Role, UserDirectory
from referral_loop.web.users_file import read_users, update_users_file
from tests.security.web_apps import Apps, both_apps, settings_in
from tests.support.signin import sign_in


def legacy_pbkdf2(password: str, salt: bytes, iterations: int = 200_000) -> str:
    """A hash as versions before argon2 wrote it (for tests of the migration)."""
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"pbkdf2${iterations}${salt.hex()}${digest.hex()}"


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[Apps]:
    with both_apps(settings_in(tmp_path)) as found:
        yield found


def test_local_users_and_a_first_admin_are_stored_as_argon2id_hashes_only(apps: Apps) -> None:
    text = apps.settings.users_path.read_text()
    records = json.loads(text)["users"]
    assert {name: r["role"] for name, r in records.items()} == {
        "intake": "intake",
        "ops": "ops",
        "admin": "admin",
    }
    assert all(r["password_hash"].startswith("$argon2id$") for r in records.values())
    assert not [name for name in records if apps.password(name) in text]
    assert apps.settings.users_path.stat().st_mode & 0o777 == 0o600


def test_a_legacy_pbkdf2_hash_signs_in_once_and_is_rehashed_with_argon2(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    legacy = legacy_pbkdf2("old-secret", b"s" * 16)
    update_users_file(
        path, lambda d: d["users"].update({"dana": {"role": "clinician", "password_hash": legacy}})
    )
    directory = UserDirectory(path)
    assert directory.authenticate("dana", "wrong") is None
    assert read_users(path)["users"]["dana"]["password_hash"] == legacy
    user = directory.authenticate("dana", "old-secret")
    assert user is not None and user.role is Role.CLINICIAN
    upgraded = read_users(path)["users"]["dana"]["password_hash"]
    assert upgraded.startswith("$argon2id$")
    directory.refresh()
    assert directory.authenticate("dana", "old-secret") == user


async def test_wrong_passwords_and_unknown_users_are_refused_on_the_api_and_the_form(apps: Apps) -> None:
    transport = httpx.ASGITransport(app=apps.intake)
    async with httpx.AsyncClient(transport=transport, base_url="https://intake.test") as client:
        assert (await client.get("/api/referrals", auth=("intake", "guess"))).status_code == 401
        assert (await client.get("/api/referrals", auth=("mallory", "guess"))).status_code == 401
        wrong = await sign_in(client, "intake", "guess")
        assert wrong.status_code == 401 and "wrong" in wrong.text and "guess" not in wrong.text
        assert apps.intake.state.guard.cookie not in client.cookies
        right = await sign_in(client, "admin", apps.password("admin"))
        assert right.status_code == 303 and apps.intake.state.guard.cookie in client.cookies


async def test_a_repeated_api_call_runs_argon2_once(apps: Apps, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = apps.intake.state.guard.authenticator.directory
    checks: list[str] = []
    real = directory.authenticate

    def counting(name: str, password: str) -> object:
        checks.append(name)
        return real(name, password)

    monkeypatch.setattr(directory, "authenticate", counting)
    transport = httpx.ASGITransport(app=apps.intake)
    async with httpx.AsyncClient(transport=transport, base_url="https://intake.test") as client:
        for _ in range(5):
            answer = await client.get("/api/referrals", auth=("intake", apps.password("intake")))
            assert answer.status_code == 200
        assert (await client.get("/api/referrals", auth=("intake", "other"))).status_code == 401
    assert checks == ["intake", "intake"]


async def test_a_burst_of_first_calls_is_one_sign_in_attempt(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A system's 40 requests at once with the same credentials: one argon2 check, no 429."""
    directory = apps.intake.state.guard.authenticator.directory
    checks: list[str] = []
    real = directory.authenticate
    monkeypatch.setattr(
        directory, "authenticate", lambda name, password: checks.append(name) or real(name, password)
    )
    transport = httpx.ASGITransport(app=apps.intake)
    async with httpx.AsyncClient(transport=transport, base_url="https://intake.test") as client:
        auth = ("intake", apps.password("intake"))
        answers = await asyncio.gather(*(client.get("/api/referrals", auth=auth) for _ in range(40)))
    assert [a.status_code for a in answers] == [200] * 40
    assert checks == ["intake"]
