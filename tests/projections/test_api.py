"""The ops API over seeded read models: the numbers, CSV twins, the CLI agreeing, auth and validation."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from referral_loop.settings import Settings
from services.projections.charts import Series, bar_chart
from services.projections.csv_export import cell
from services.projections.queries.volume import shift_month as shift
from services.projections.report_cli import main as report
from tests.projections.browser import (
    CLINICS,
    HARBOR,
    LAKESIDE,
    MONTHLY,
    MONTHS,
    PREVIOUS_YEAR,
    SUMMIT,
    WORKLIST_PATIENTS,
    Ops,
    opened_ops,
)

WINDOW = {"from": "2026-01", "to": "2026-06"}
ENDPOINTS = ["/api/volume", "/api/trends", "/api/worklists", "/api/kpis", "/api/scorecards", "/api/cms50"]


@pytest.fixture
def ops(tmp_path: Path) -> Iterator[Ops]:
    with opened_ops(
        Settings(data_dir=tmp_path, sqlite_path=tmp_path / "store.sqlite", public_url="http://intake.test")
    ) as opened:
        yield opened


async def get(ops: Ops, path: str, **params: Any) -> httpx.Response:
    """The API with HTTP Basic; the dashboard ("/") through a signed-in session; as intake."""
    async with ops.page_client() if path == "/" else ops.client() as client:
        return await client.get(path, params=params)


def parsed(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    return list(csv.DictReader(io.StringIO(response.text)))


def as_text(value: Any) -> str:
    return "" if value is None else str(value)


async def test_volume_by_clinic_has_the_seeded_months_totals_and_previous_year(ops: Ops) -> None:
    body = (await get(ops, "/api/volume", by="clinic", **WINDOW)).json()
    assert body["months"] == MONTHS
    rows = {row["key"]: row for row in body["rows"]}
    for key, counts in MONTHLY.items():
        assert rows[key]["label"] == CLINICS[key][0]
        assert rows[key]["months"] == dict(zip(MONTHS, counts, strict=True))
        assert rows[key]["total"] == sum(counts)
        assert rows[key]["previous_year_total"] == sum(PREVIOUS_YEAR[key].values())
    assert [r["key"] for r in body["rows"]] == [SUMMIT, HARBOR, LAKESIDE]
    assert body["totals"] == {m: sum(c[i] for c in MONTHLY.values()) for i, m in enumerate(MONTHS)}


async def test_volume_agrees_as_json_csv_and_from_the_cli(
    ops: Ops, capsys: pytest.CaptureFixture[str]
) -> None:
    body = (await get(ops, "/api/volume", by="clinic", **WINDOW)).json()
    response = await get(ops, "/api/volume", by="clinic", format="csv", **WINDOW)
    rows = parsed(response)
    assert [r["key"] for r in rows] == [r["key"] for r in body["rows"]]
    for row, json_row in zip(rows, body["rows"], strict=True):
        assert {m: int(row[m]) for m in MONTHS} == json_row["months"]
        assert int(row["total"]) == json_row["total"]
        assert int(row["previous_year_total"]) == json_row["previous_year_total"]
    assert (
        report(ops.settings, ["volume", "--by", "clinic", "--from", "2026-01", "--to", "2026-06", "--csv"])
        == 0
    )
    assert capsys.readouterr().out == response.text
    assert report(ops.settings, ["volume", "--by", "clinic", "--from", "2026-01", "--to", "2026-06"]) == 0
    lines = capsys.readouterr().out.splitlines()
    harbor = next(line for line in lines if line.startswith("Harbor Family Medicine"))
    assert harbor.split()[-8:] == [*map(str, MONTHLY[HARBOR]), str(sum(MONTHLY[HARBOR])), "1"]


async def test_top_and_paging_keep_the_totals_of_every_row(ops: Ops) -> None:
    body = (await get(ops, "/api/volume", by="clinic", top=2, limit=1, offset=1, **WINDOW)).json()
    assert [r["key"] for r in body["rows"]] == [HARBOR]
    assert body["total_rows"] == 2
    assert sum(body["totals"].values()) == sum(sum(c) for c in MONTHLY.values())


async def test_as_of_leaves_out_what_was_recorded_later(ops: Ops) -> None:
    now = (await get(ops, "/api/volume", by="clinic", **WINDOW)).json()
    then = (await get(ops, "/api/volume", by="clinic", as_of="2026-06-30", **WINDOW)).json()
    march = {r["key"]: r["months"]["2026-03"] for r in now["rows"]}
    march_then = {r["key"]: r["months"]["2026-03"] for r in then["rows"]}
    assert march[HARBOR] == 2 and march_then[HARBOR] == 1
    assert march_then[SUMMIT] == march[SUMMIT] == 4
    also = (await get(ops, "/api/volume", by="clinic", as_of="2026-07-01T12:00:00+00:00", **WINDOW)).json()
    assert {r["key"]: r["months"]["2026-03"] for r in also["rows"]} == march


async def test_volume_defaults_to_the_twelve_months_ending_this_month(ops: Ops) -> None:
    body = (await get(ops, "/api/volume")).json()
    this_month = datetime.now(UTC).strftime("%Y-%m")
    assert body["months"][-1] == this_month and body["months"][0] == shift(this_month, -11)
    assert body["dimension"] == "clinic" and body["limit"] == 50


async def test_trends_name_the_lapsed_and_declining_referrers_and_match_their_csv(ops: Ops) -> None:
    found = (await get(ops, "/api/trends", by="clinic", month="2026-06", window=6)).json()
    status = {t["key"]: t["status"] for t in found}
    assert status[LAKESIDE] == "lapsed" and status[SUMMIT] == "declining"
    assert all(t["explanation"] for t in found)
    rows = parsed(await get(ops, "/api/trends", by="clinic", month="2026-06", window=6, format="csv"))
    assert [(r["key"], r["status"], r["explanation"], r["count"]) for r in rows] == [
        (t["key"], t["status"], t["explanation"], str(t["count"])) for t in found
    ]
    assert [int(r["misses_no_shows"]) for r in rows] == [t["misses"]["no_shows"] for t in found]


async def test_worklists_show_patients_and_each_list_has_a_csv(ops: Ops) -> None:
    lists = (await get(ops, "/api/worklists")).json()
    names = {item["patient_name"]: name for name, items in lists.items() for item in items}
    assert names[WORKLIST_PATIENTS["to_schedule"]] == "to_schedule"
    assert names[WORKLIST_PATIENTS["scheduled"]] == "scheduled"
    assert names[WORKLIST_PATIENTS["awaiting"]] in ("awaiting_report", "overdue")
    for name, items in lists.items():
        rows = parsed(await get(ops, "/api/worklists", list=name, format="csv"))
        assert [r["referral_id"] for r in rows] == [i["referral_id"] for i in items]
        assert [r["patient_name"] for r in rows] == [i["patient_name"] for i in items]


@pytest.mark.parametrize("path", ["/api/kpis", "/api/scorecards"])
async def test_kpis_and_scorecards_csv_has_one_row_per_item_matching_json(ops: Ops, path: str) -> None:
    found = (await get(ops, path, **WINDOW)).json()
    rows = parsed(await get(ops, path, format="csv", **WINDOW))
    assert len(rows) == len(found) > 0
    for row, item in zip(rows, found, strict=True):
        assert row == {name: as_text(value) for name, value in item.items()}


async def test_kpis_count_the_practice_referrals_per_month(ops: Ops) -> None:
    found = (await get(ops, "/api/kpis", **WINDOW)).json()
    by_month = {k["month"]: k["referrals"] for k in found if k["clinic"] is None}
    assert by_month == {m: sum(c[i] for c in MONTHLY.values()) for i, m in enumerate(MONTHS)}
    one = (await get(ops, "/api/kpis", clinic=LAKESIDE, **WINDOW)).json()
    assert [k["referrals"] for k in one] == MONTHLY[LAKESIDE]


async def test_scorecards_count_each_office(ops: Ops) -> None:
    found = (await get(ops, "/api/scorecards", **WINDOW)).json()
    assert {s["clinic"]: s["referrals"] for s in found} == {k: sum(c) for k, c in MONTHLY.items()}


async def test_cms50_is_one_row(ops: Ops) -> None:
    found = (await get(ops, "/api/cms50", year=2026)).json()
    assert found["year"] == 2026 and found["denominator"] >= found["numerator"] >= 0
    rows = parsed(await get(ops, "/api/cms50", year=2026, format="csv"))
    assert rows == [{name: as_text(value) for name, value in found.items()}]


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_every_api_route_needs_a_signed_in_reader(ops: Ops, path: str) -> None:
    async with ops.client(user=None) as client:
        response = await client.get(path)
    assert response.status_code == 401
    assert (
        "Basic" in response.headers["www-authenticate"] and "Bearer" in response.headers["www-authenticate"]
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=ops.app), base_url="http://ops.test") as c:
        assert (await c.get(path, auth=("ops", "wrong password"))).status_code == 401


async def test_the_dashboard_sends_a_stranger_to_the_sign_in_form(ops: Ops) -> None:
    async with ops.client(user=None) as client:
        response = await client.get("/", params=WINDOW)
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")


async def test_ops_read_aggregates_but_not_the_worklists_that_name_patients(ops: Ops) -> None:
    async with ops.client("ops") as client:
        assert (await client.get("/api/volume", params=WINDOW)).status_code == 200
        assert (await client.get("/api/worklists")).status_code == 403
    async with ops.page_client("ops") as client:
        page = await client.get("/", params=WINDOW)
    assert page.status_code == 200 and 'data-key="reports@harbor.example"' in page.text
    assert 'table class="worklist"' not in page.text and "aggregates only" in page.text
    assert not [name for name in WORKLIST_PATIENTS.values() if name in page.text]
    async with ops.client("intake") as client:
        assert (await client.get("/api/worklists")).status_code == 200


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-13"}, "from"),
        ({"from": "26-01"}, "from"),
        ({"to": "2026/06"}, "to"),
        ({"from": "2026-06", "to": "2026-01"}, "to"),
        ({"from": "2020-01", "to": "2025-01"}, "to"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"as_of": "yesterday"}, "as_of"),
        ({"by": "colour"}, "by"),
    ],
)
async def test_bad_parameters_are_422_naming_the_field(ops: Ops, params: dict[str, str], field: str) -> None:
    response = await get(ops, "/api/volume", **params)
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_other_endpoints_validate_too(ops: Ops) -> None:
    assert (await get(ops, "/api/trends", by="specialty")).status_code == 422
    assert (await get(ops, "/api/trends", month="2026-1")).status_code == 422
    assert (await get(ops, "/api/kpis", **{"from": "2026-07", "to": "2026-01"})).status_code == 422
    assert (await get(ops, "/api/cms50", year="1999")).status_code == 422
    missing = await get(ops, "/api/worklists", format="csv")
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "list"
    assert (await get(ops, "/api/volume", **{"from": "2022-01", "to": "2026-12"})).status_code == 200


async def test_health_needs_no_sign_in_and_the_api_is_documented(ops: Ops) -> None:
    async with ops.client(user=None) as client:
        assert (await client.get("/healthz")).text == "ok"
        schema = (await client.get("/openapi.json")).json()
    assert {f"/api/{p}" for p in ("volume", "trends", "worklists", "kpis", "scorecards", "cms50")} <= set(
        schema["paths"]
    )
    assert "text/csv" in schema["paths"]["/api/volume"]["get"]["responses"]["200"]["content"]


async def test_dashboard_html_is_script_free_and_locked_down(ops: Ops) -> None:
    response = await get(ops, "/", **WINDOW)
    assert response.status_code == 200
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    html = response.text
    assert "<script" not in html and 'src="' not in html  # nothing loaded: no scripts, images or frames
    assert 'href="http' not in html.replace('href="http://intake.test/referrals/', "")
    assert ops.settings.practice_name in html
    assert 'data-key="reports@harbor.example" data-count="3"' in html
    bad = await get(ops, "/", **{"from": "2026-13"})
    assert bad.status_code == 422 and "use a month as YYYY-MM" in bad.text


def test_names_are_escaped_in_the_chart_and_defused_in_csv() -> None:
    chart = bar_chart(["2026-01"], [Series('"><b>', "<script>x</script>", {"2026-01": 2})], "a & b")
    assert "<script>" not in chart and "&lt;script&gt;x&lt;/script&gt;, Jan 2026: 2" in chart
    assert 'data-key="&#34;&gt;&lt;b&gt;"' in chart and 'aria-label="a &amp; b"' in chart
    defused = {"=SUM(A1)": "'=SUM(A1)", "+1": "'+1", "@x": "'@x", "-x": "'-x", "Dr. Who": "Dr. Who"}
    assert {v: cell(v) for v in defused} == defused and cell(-2.5) == "-2.5" and cell(None) == ""
