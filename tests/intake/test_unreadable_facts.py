"""Facts a store holds from before the contracts' ranges (a return visit on 0001-01-01, a referral
received in year 9999) no longer make the staff pages answer 500 for everyone: the list shows every
referral it can, and a referral's page notes the facts it could not read."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI

from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.ledger import Positioned
from referral_loop.web.users import ensure_local_users
from services.intake.app import create_app
from tests.support import poison
from tests.support.referrals import received
from tests.support.signin import signed_in_client


@pytest.fixture
def poisoned(tmp_path: Path) -> Iterator[tuple[Settings, dict[str, UUID]]]:
    settings = Settings(data_dir=tmp_path, sqlite_path=tmp_path / "s.sqlite")
    ids = {"good": uuid4(), "visit": uuid4()}
    ledger = open_ledger(settings)
    try:
        ledger.record_batch([Positioned(1, received(ids["good"])), Positioned(2, received(ids["visit"]))])
        poison.return_visit(ledger, ids["visit"])
        ids["future"] = poison.received(ledger, occurred_at="9999-12-31T23:59:59Z")
    finally:
        ledger.close()
    yield settings, ids


@pytest.fixture
async def client(poisoned: tuple[Settings, dict[str, UUID]]) -> AsyncIterator[httpx.AsyncClient]:
    settings, _ = poisoned
    users = ensure_local_users(settings.users_path)
    app: FastAPI = create_app(settings)
    try:
        async with signed_in_client(
            app, "intake", users["intake"]["password"], base_url="https://intake.test"
        ) as signed_in:
            yield signed_in
    finally:
        app.state.intake.reader.ledger.close()


async def test_the_staff_list_shows_what_it_can_read(
    client: httpx.AsyncClient, poisoned: tuple[Settings, dict[str, UUID]]
) -> None:
    _, ids = poisoned
    listing = await client.get("/referrals")
    assert listing.status_code == 200
    assert str(ids["good"]) in listing.text and str(ids["visit"]) in listing.text
    assert str(ids["future"]) not in listing.text  # its ReferralReceived cannot be read: nothing to show


async def test_a_referral_page_notes_the_facts_it_could_not_read(
    client: httpx.AsyncClient, poisoned: tuple[Settings, dict[str, UUID]]
) -> None:
    _, ids = poisoned
    page = await client.get(f"/referrals/{ids['visit']}")
    assert page.status_code == 200
    assert "1 fact(s) of this referral could not be read" in page.text
    assert "0001" not in page.text
    good = await client.get(f"/referrals/{ids['good']}")
    assert good.status_code == 200 and 'id="unreadable"' not in good.text
    assert (await client.get(f"/referrals/{ids['future']}")).status_code == 404
