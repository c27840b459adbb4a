"""The staff pages: the intake form (errors, escaping, idempotency, bus down), the list and status pages."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from markupsafe import escape

from contracts import Fact
from contracts.events import ReferralReceived
from contracts.referral import Referral
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.ledger import Positioned, ReferralLedger
from referral_loop.web.users import ensure_local_users
from services.intake.app import create_app
from services.intake.form import FIELDS, KEY_FIELD
from tests.support.referrals import VALID_NPI, forgotten, received, seen
from tests.support.signin import csrf_of, signed_in_client

GOOD_FORM = {
    "given_name": "Ada",
    "family_name": "Lovelace",
    "birth_date": "1980-04-02",
    "sex": "female",
    "phone": "+1 555 010 0199",
    "payer": "Acme Health",
    "member_id": "M-42",
    "mrn": "MRN-7",
    "provider_name": "Dr. Grace Hopper",
    "provider_npi": VALID_NPI,
    "clinic_name": "Harbor Family Medicine",
    "clinic_phone": "+15550100100",
    "clinic_fax": "",
    "clinic_report_email": "reports@harbor.example",
    "requested_specialty": "cardiology",
    "requested_provider": "",
    "requested_service": "Echocardiogram",
    "reason": "Exertional chest pain, abnormal ECG.",
    "diagnosis_codes": "r07.9,  I10 E119",
    "priority": "urgent",
    "requested_by": "2026-11-30",
    "return_visit_on": "2026-12-15",
    "channel": "web_form",
    "external_reference": "REF-1001",
    "received_at": "2025-03-04T09:15",
    KEY_FIELD: "form-token-1",
}
EXPECTED = {
    "channel": "web_form",
    "external_reference": "REF-1001",
    "patient": {"given_name": "Ada", "family_name": "Lovelace", "birth_date": "1980-04-02", "sex": "female",
                "phone": "+15550100199", "insurance": {"payer": "Acme Health", "member_id": "M-42"},
                "mrn": "MRN-7"},
    "referring_provider": {"name": "Dr. Grace Hopper", "npi": VALID_NPI},
    "referring_clinic": {"name": "Harbor Family Medicine", "phone": "+15550100100",
                         "report_email": "reports@harbor.example"},
    "requested_specialty": "cardiology",
    "requested_service": "Echocardiogram",
    "reason": "Exertional chest pain, abnormal ECG.",
    "diagnosis_codes": ["R07.9", "I10", "E11.9"],
    "priority": "urgent",
    "requested_by": "2026-11-30",
    "return_visit_on": "2026-12-15",
}  # fmt: skip


class FakePublisher:
    """Stands in for the NATS publisher: records what would have been published."""

    def __init__(self) -> None:
        self.facts: list[Fact] = []

    async def publish(self, fact: Fact) -> None:
        self.facts.append(fact)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, sqlite_path=tmp_path / "s.sqlite")


@pytest.fixture
def users(settings: Settings) -> dict[str, dict[str, str]]:
    return ensure_local_users(settings.users_path)


@pytest.fixture
def app(settings: Settings, users: dict[str, dict[str, str]]) -> Iterator[FastAPI]:
    app = create_app(settings)
    yield app
    app.state.intake.reader.ledger.close()


@pytest.fixture
def publisher(app: FastAPI) -> FakePublisher:
    app.state.intake.publisher = FakePublisher()
    publisher: FakePublisher = app.state.intake.publisher
    return publisher


@pytest.fixture
def ledger(settings: Settings) -> Iterator[ReferralLedger]:
    ledger = open_ledger(settings)
    yield ledger
    ledger.close()


@pytest.fixture
async def anonymous(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://intake.test") as client:
        yield client


@pytest.fixture
async def client(app: FastAPI, users: dict[str, dict[str, str]]) -> AsyncIterator[httpx.AsyncClient]:
    """Signed in as intake through the sign-in form (https: the session cookie is Secure)."""
    async with signed_in_client(
        app, "intake", users["intake"]["password"], base_url="https://intake.test"
    ) as c:
        yield c


@pytest.fixture
async def ops_client(app: FastAPI, users: dict[str, dict[str, str]]) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_in_client(app, "ops", users["ops"]["password"], base_url="https://intake.test") as c:
        yield c


@pytest.fixture
async def csrf(client: httpx.AsyncClient) -> dict[str, str]:
    """The session's CSRF token, as the form carries it."""
    return {"csrf_token": csrf_of((await client.get("/referrals/new")).text)}


def field_block(page: str, name: str) -> str:
    """The HTML of one form field: its label, hint, error and control."""
    match = re.search(rf'<div class="field[^"]*">\s*<label for="f-{name}">.*?</div>', page, re.DOTALL)
    assert match, f"no field {name}"
    return match.group(0)


def error_of(page: str, name: str) -> str:
    match = re.search(rf'<p class="error" id="error-{name}">(.*?)</p>', field_block(page, name), re.DOTALL)
    assert match, f"no error shown next to {name}"
    text = re.sub(r'<span class="visually-hidden">Error: </span>', "", match.group(1))
    return html.unescape(text)


def key_of(page: str) -> str:
    match = re.search(rf'name="{KEY_FIELD}" value="([^"]*)"', page)
    assert match
    return match.group(1)


def record(ledger: ReferralLedger, *facts: Fact) -> None:
    ledger.record_batch([Positioned(i, fact) for i, fact in enumerate(facts, start=1)])


async def test_home_redirects_to_the_list_and_the_stylesheet_is_served(client: httpx.AsyncClient) -> None:
    home = await client.get("/")
    style = await client.get("/static/style.css")
    assert home.status_code == 303 and home.headers["location"] == "/referrals"
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")


async def test_the_form_has_every_field_with_its_label(
    client: httpx.AsyncClient, csrf: dict[str, str]
) -> None:
    first = await client.get("/referrals/new")
    second = await client.get("/referrals/new")
    page = first.text
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/html")
    for name, field in FIELDS.items():
        block = field_block(page, name)
        assert str(escape(field.label)) in block and f'id="f-{name}"' in block and f'name="{name}"' in block
    assert 'maxlength="200"' in field_block(page, "given_name")
    assert 'maxlength="4000"' in field_block(page, "reason") and "required" in field_block(page, "reason")
    assert 'type="date"' in field_block(page, "birth_date")
    assert 'type="datetime-local"' in field_block(page, "received_at")
    assert '<option value="web_form" selected>' in field_block(page, "channel")
    assert page.count("<fieldset>") >= 5
    assert key_of(page) and key_of(page) != key_of(second.text)
    assert "<script" not in page


async def test_a_bad_submission_shows_each_error_next_to_its_field_and_keeps_the_typing(
    client: httpx.AsyncClient, csrf: dict[str, str], publisher: FakePublisher
) -> None:
    typed = GOOD_FORM | {
        "given_name": "<script>alert(1)</script>",
        "family_name": "Lovelace-Byron",
        "provider_npi": "1234567890",
        "birth_date": "2999-01-01",
        "reason": "   ",
        "diagnosis_codes": "I10 nonsense",
    }
    response = await client.post("/referrals/new", data=typed | csrf)
    page = response.text
    assert response.status_code == 422
    assert "check digit is wrong" in error_of(page, "provider_npi")
    assert "cannot be in the future" in error_of(page, "birth_date")
    assert "required" in error_of(page, "reason")
    assert error_of(page, "diagnosis_codes").startswith("code 2:")
    assert 'value="Lovelace-Byron"' in field_block(page, "family_name")
    assert 'value="1234567890"' in field_block(page, "provider_npi")
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in field_block(page, "given_name")
    assert 'class="error-summary"' in page and '<a href="#f-provider_npi">' in page
    assert key_of(page) == "form-token-1"
    assert publisher.facts == []


async def test_a_good_submission_publishes_one_referral_received_nested_as_typed(
    client: httpx.AsyncClient, csrf: dict[str, str], publisher: FakePublisher
) -> None:
    response = await client.post("/referrals/new", data=GOOD_FORM | csrf)
    assert response.status_code == 200
    [fact] = publisher.facts
    assert isinstance(fact, ReferralReceived)
    assert fact.data == Referral.model_validate(EXPECTED)
    assert fact.occurred_at == datetime(2025, 3, 4, 9, 15).astimezone()
    assert fact.actor.name == "intake"
    assert str(fact.referral_id) in response.text
    assert f'href="/referrals/{fact.referral_id}"' in response.text
    assert f"/api/referrals/{fact.referral_id}" in response.text


async def test_an_empty_insurance_group_is_no_insurance(
    client: httpx.AsyncClient, csrf: dict[str, str], publisher: FakePublisher
) -> None:
    typed = GOOD_FORM | {"payer": "", "member_id": " ", "received_at": "", "diagnosis_codes": ""}
    response = await client.post("/referrals/new", data=typed | csrf)
    assert response.status_code == 200
    [fact] = publisher.facts
    assert fact.data.patient.insurance is None and fact.data.diagnosis_codes == []


async def test_a_member_id_without_a_payer_is_an_error_on_the_payer(
    client: httpx.AsyncClient, csrf: dict[str, str], publisher: FakePublisher
) -> None:
    response = await client.post("/referrals/new", data=GOOD_FORM | {"payer": ""} | csrf)
    assert response.status_code == 422
    assert "required" in error_of(response.text, "payer")


async def test_submitting_the_same_form_twice_names_the_same_referral(
    client: httpx.AsyncClient, csrf: dict[str, str], publisher: FakePublisher
) -> None:
    form = (await client.get("/referrals/new")).text
    typed = GOOD_FORM | {KEY_FIELD: key_of(form)}
    for _ in range(2):
        assert (await client.post("/referrals/new", data=typed | csrf)).status_code == 200
    first, second = publisher.facts
    assert first.referral_id == second.referral_id and first.event_id == second.event_id


async def test_a_reused_token_with_other_details_saves_nothing_and_offers_a_new_token(
    client: httpx.AsyncClient, csrf: dict[str, str], publisher: FakePublisher, ledger: ReferralLedger
) -> None:
    await client.post("/referrals/new", data=GOOD_FORM | csrf)
    record(ledger, *publisher.facts)
    changed = GOOD_FORM | {"reason": "Something else entirely."}
    response = await client.post("/referrals/new", data=changed | csrf)
    assert response.status_code == 409 and "already submitted" in response.text
    assert key_of(response.text) != GOOD_FORM[KEY_FIELD]
    assert len(publisher.facts) == 1


async def test_when_the_bus_is_down_the_form_says_so_and_keeps_the_typing(
    client: httpx.AsyncClient, csrf: dict[str, str]
) -> None:
    response = await client.post("/referrals/new", data=GOOD_FORM | csrf)
    page = response.text
    assert response.status_code == 503
    assert "could not be accepted" in page and "Nothing was saved" in page and "try again" in page
    assert 'value="Lovelace"' in field_block(page, "family_name")
    assert "Exertional chest pain" in field_block(page, "reason")
    assert key_of(page) == GOOD_FORM[KEY_FIELD]


async def test_a_post_from_another_site_is_refused(
    client: httpx.AsyncClient, csrf: dict[str, str], publisher: FakePublisher
) -> None:
    headers = {"Origin": "https://evil.example"}
    response = await client.post("/referrals/new", data=GOOD_FORM | csrf, headers=headers)
    assert response.status_code == 403 and publisher.facts == []
    same = await client.post(
        "/referrals/new", data=GOOD_FORM | csrf, headers={"Origin": "https://intake.test"}
    )
    assert same.status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/referrals"), ("GET", "/referrals/new"), ("POST", "/referrals/new"),
     ("GET", "/referrals/00000000-0000-0000-0000-000000000000")],
)  # fmt: skip
async def test_the_pages_need_a_signed_in_user(anonymous: httpx.AsyncClient, method: str, path: str) -> None:
    response = await anonymous.request(method, path, auth=None)
    if method == "GET":
        assert response.status_code == 303 and response.headers["location"].startswith(
            "/login?next=%2Freferrals"
        )
    else:
        assert response.status_code == 401


async def test_ops_can_neither_see_referrals_nor_enter_them(
    ops_client: httpx.AsyncClient, publisher: FakePublisher, ledger: ReferralLedger
) -> None:
    fact = received()
    record(ledger, fact)
    assert (await ops_client.get("/referrals")).status_code == 403
    assert (await ops_client.get(f"/referrals/{fact.referral_id}")).status_code == 403
    assert (await ops_client.get("/referrals/new")).status_code == 403
    posted = await ops_client.post("/referrals/new", data=GOOD_FORM)
    assert posted.status_code == 403 and publisher.facts == []


async def test_the_list_shows_recorded_referrals_with_links(
    client: httpx.AsyncClient, csrf: dict[str, str], ledger: ReferralLedger
) -> None:
    fact = received()
    record(ledger, fact)
    response = await client.get("/referrals")
    assert response.status_code == 200
    assert "Harbor Family Medicine" in response.text and "cardiology" in response.text
    assert f'href="/referrals/{fact.referral_id}"' in response.text
    assert 'href="/referrals/new"' in response.text


async def test_the_status_page_shows_the_referral_and_its_timeline(
    client: httpx.AsyncClient, ledger: ReferralLedger
) -> None:
    fact = received()
    record(ledger, fact)
    response = await client.get(f"/referrals/{fact.referral_id}")
    page = response.text
    assert response.status_code == 200
    assert "Ada Lovelace" in page and "Harbor Family Medicine" in page and "Dr. Grace Hopper" in page
    assert "<code>R07.9</code> Chest pain, unspecified</span>;" in page and "Exertional chest pain" in page
    assert "<code>I10</code> Essential (primary) hypertension" in page
    assert "<td>Referral received</td>" in page and "<td>intake-tester</td>" in page


async def test_a_forgotten_patients_pages_show_no_trace_of_them(
    client: httpx.AsyncClient, ledger: ReferralLedger
) -> None:
    fact = received()
    record(ledger, fact, seen(fact.referral_id))
    assert "Ada Lovelace" in (await client.get(f"/referrals/{fact.referral_id}")).text  # its key now cached
    ledger.patient_keys.forget(fact.referral_id)
    ledger.record_batch([Positioned(3, forgotten(fact.referral_id))])
    for path in (f"/referrals/{fact.referral_id}", f"/referrals/{fact.referral_id}/report"):
        page = (await client.get(path)).text
        assert "[forgotten]" in page and "Harbor Family Medicine" in page, path
        for trace in ("Lovelace", "1980-04-02", "0001-01-01", "Exertional chest pain", "Normal echo"):
            assert trace not in page, f"{trace} on {path}"


@pytest.mark.parametrize("referral_id", ["5f0c7a4e-3b1d-4c38-9d1e-2f9b8a7c6d5e", "not-a-uuid"])
async def test_an_unknown_referral_is_a_404_page(client: httpx.AsyncClient, referral_id: str) -> None:
    response = await client.get(f"/referrals/{referral_id}")
    assert response.status_code == 404 and "Referral not found" in response.text
