"""The dashboard in a real headless Chromium with JavaScript off: chart, tables, drifting referrers,
the filter form, and a worklist link into intake's timeline page.

Both apps run under uvicorn on free ports over the same seeded store and read models. Chromium
missing is a failure (see browser.require_chromium), never a skip.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright

from launcher.natsd import free_port
from referral_loop.settings import Settings
from referral_loop.web.users import ensure_local_users
from services.intake.app import create_app as intake_app
from services.projections.app import create_app as ops_app
from tests.projections.browser import (
    CHROMIUM_ARGS,
    CLINICS,
    HARBOR,
    LAKESIDE,
    MONTHLY,
    MONTHS,
    PREVIOUS_YEAR,
    SUMMIT,
    WORKLIST_PATIENTS,
    project,
    record,
    require_chromium,
    scenario,
    serving,
)
from tests.support.signin import sign_in_browser

RANGE = "from=2026-01&to=2026-06"


@dataclass
class Stack:
    ops_url: str
    intake_url: str
    password: str
    ids: dict[str, UUID]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    intake_port, ops_port = free_port(), free_port()
    settings = Settings(
        data_dir=tmp_path,
        sqlite_path=tmp_path / "store.sqlite",
        intake_port=intake_port,
        ops_port=ops_port,
        public_url=f"http://127.0.0.1:{intake_port}",
        nats_url=f"nats://127.0.0.1:{free_port()}",  # nobody there: intake only reads here
    )
    password = ensure_local_users(settings.users_path)["intake"]["password"]  # sees the worklists too
    facts, ids = scenario()
    record(settings, facts)
    project(settings, facts)
    with serving(intake_app(settings), intake_port) as intake, serving(ops_app(settings), ops_port) as ops:
        yield Stack(ops, intake, password, ids)


@pytest.fixture
def page(stack: Stack, tmp_path: Path) -> Iterator[Page]:
    executable = require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(java_script_enabled=False, viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            for url in (stack.ops_url, stack.intake_url):  # each app has its own session
                sign_in_browser(page, url, "intake", stack.password)
            yield page
        finally:
            browser.close()


def test_the_chart_carries_every_seeded_number(page: Page, stack: Stack, tmp_path: Path) -> None:
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(f"{stack.ops_url}/?{RANGE}")
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    assert console == [], "nothing refused by the Content-Security-Policy, nothing failed to load"
    chart = page.locator("svg.chart")
    assert chart.get_attribute("role") == "img"
    assert "2026-01 to 2026-06" in (chart.get_attribute("aria-label") or "")
    bars = {
        (bar.get_attribute("data-key"), bar.get_attribute("data-month")): bar.get_attribute("data-count")
        for bar in chart.locator("rect.bar").all()
    }
    expected = {(k, m): str(n) for k, counts in MONTHLY.items() for m, n in zip(MONTHS, counts, strict=True)}
    assert bars == expected
    april = chart.locator(f'rect.bar[data-key="{HARBOR}"][data-month="2026-04"] title')
    assert april.text_content() == "Harbor Family Medicine, Apr 2026: 4"
    assert chart.locator(".legend-item").all_text_contents() == [
        CLINICS[k][0] for k in (SUMMIT, HARBOR, LAKESIDE)
    ]
    assert page.locator(".site-header").inner_text().startswith("Referral Loop Specialty Clinic")


def test_the_table_under_the_chart_has_the_same_numbers(page: Page, stack: Stack) -> None:
    page.goto(f"{stack.ops_url}/?{RANGE}")
    for key, counts in MONTHLY.items():
        row = page.locator(f'#volume-table tbody tr[data-key="{key}"]')
        assert row.locator("th").inner_text() == CLINICS[key][0]
        previous = sum(PREVIOUS_YEAR[key].values())
        assert row.locator("td").all_inner_texts() == [*map(str, counts), str(sum(counts)), str(previous)]
    totals = page.locator("#volume-table tfoot td").all_inner_texts()
    assert totals[: len(MONTHS)] == [str(sum(c[i] for c in MONTHLY.values())) for i in range(len(MONTHS))]


def test_lapsed_and_declining_referrers_are_listed_with_their_explanation(page: Page, stack: Stack) -> None:
    page.goto(f"{stack.ops_url}/?{RANGE}")
    api = httpx.get(f"{stack.ops_url}/api/trends?by=clinic&month=2026-06", auth=("intake", stack.password))
    explained = {t["key"]: t["explanation"] for t in api.json()}
    lapsed = page.locator(f'#trends-table tr[data-key="{LAKESIDE}"]')
    assert "Lakeside Pediatrics" in lapsed.inner_text() and "lapsed" in lapsed.inner_text()
    assert explained[LAKESIDE] in lapsed.inner_text()
    declining = page.locator(f'#trends-table tr[data-key="{SUMMIT}"]')
    assert "declining" in declining.inner_text() and explained[SUMMIT] in declining.inner_text()
    assert page.locator(f'#trends-table tr[data-key="{HARBOR}"]').count() == 0


def test_a_worklist_row_opens_the_referral_timeline_in_intake(page: Page, stack: Stack) -> None:
    page.goto(f"{stack.ops_url}/?{RANGE}")
    referral = stack.ids["awaiting"]
    link = page.locator(f'table.worklist a[href="{stack.intake_url}/referrals/{referral}"]')
    assert link.inner_text() == WORKLIST_PATIENTS["awaiting"]
    link.click()
    page.wait_for_url(f"{stack.intake_url}/referrals/{referral}")
    assert page.locator("h1").inner_text() == f"Referral for {WORKLIST_PATIENTS['awaiting']}"
    what = page.locator("table tbody tr td:first-child").all_inner_texts()
    assert what == ["Referral received", "Appointment scheduled", "Patient seen"]


def test_the_filter_form_narrows_to_one_office_without_javascript(page: Page, stack: Stack) -> None:
    page.goto(f"{stack.ops_url}/?{RANGE}")
    page.select_option("#clinic", LAKESIDE)
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**clinic=**")
    keys = {bar.get_attribute("data-key") for bar in page.locator("svg.chart rect.bar").all()}
    assert keys == {LAKESIDE}
    assert "from Lakeside Pediatrics" in page.locator(".range").inner_text()
    page.goto(f"{stack.ops_url}/?from=2026-13&to=2026-06")
    assert "use a month as YYYY-MM" in page.locator(".error-summary").inner_text()
