"""Intake staff in a real browser (Chromium, no JavaScript needed): a mistake, the fix, the timeline."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from referral_loop.web.users import ensure_local_users
from tests.e2e.conftest import Stack
from tests.support.signin import sign_in_browser_async

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(autouse=True)
def chromium_is_installed() -> Iterator[None]:
    assert shutil.which("chromium") or Path(CHROMIUM).exists(), (
        "Debian's chromium is required (`make test` installs it: .ci/chromium.sh)"
    )
    yield


async def fill_referral(page: Page, npi: str) -> None:
    values = {
        "given_name": "Ada",
        "family_name": "Lovelace",
        "birth_date": "1980-04-02",
        "provider_name": "Dr. Grace Hopper",
        "provider_npi": npi,
        "clinic_name": "Harbor Family Medicine",
        "clinic_report_email": "reports@harbor.example",
        "requested_specialty": "cardiology",
        "reason": "Exertional chest pain.",
        "diagnosis_codes": "R07.9, I10",
    }
    for name, value in values.items():
        await page.fill(f"[name={name}]", value)


async def test_staff_fix_a_field_error_and_follow_the_new_referral_to_its_timeline(
    stack: Stack, tmp_path: Path
) -> None:
    password = ensure_local_users(stack.settings.users_path)["intake"]["password"]
    async with async_playwright() as playwright:
        browser: Browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=ARGS, headless=True
        )
        context = await browser.new_context(java_script_enabled=False)
        page = await context.new_page()
        await sign_in_browser_async(page, stack.settings.base_url, "intake", password)
        await page.goto(f"{stack.settings.base_url}/referrals/new")
        await fill_referral(page, npi="1234567890")
        await page.click("main button[type=submit]")
        assert "check digit" in await page.inner_text("body")
        assert await page.input_value("[name=family_name]") == "Lovelace"
        await page.fill("[name=provider_npi]", "1234567893")
        await page.click("main button[type=submit]")
        referral_id = (await page.inner_text("code.referral-id")).strip()
        await page.click("text=Status page of this referral")
        for _ in range(40):
            if "Referral received" in await page.inner_text("body"):
                break
            await asyncio.sleep(0.25)
            await page.reload()
        await page.screenshot(path=str(tmp_path / "status.png"), full_page=True)
        body = await page.inner_text("body")
        assert "Referral received" in body and "Harbor Family Medicine" in body
        assert referral_id in page.url
        await browser.close()
