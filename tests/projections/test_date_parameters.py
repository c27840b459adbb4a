"""Dates and months out of the accepted range (years 1990 to 2100) are a 422 naming the parameter,
on every ops route that takes one (JSON, CSV, the dashboard, the audit query), never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from referral_loop.settings import Settings
from tests.projections.browser import Ops, opened_ops

EXTREME_MOMENTS = ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00+05:00", "9999-12-31", "1989-12-31"]
EXTREME_MONTHS = ["9999-12", "0001-01", "1989-12", "2101-01"]
AS_OF_ROUTES = ["/api/volume", "/api/trends", "/api/kpis", "/api/scorecards", "/api/cms50"]
RANGE_ROUTES = ["/api/volume", "/api/kpis", "/api/scorecards"]


@pytest.fixture(scope="module")
def ops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ops]:
    tmp_path: Path = tmp_path_factory.mktemp("ops")
    settings = Settings(
        data_dir=tmp_path, sqlite_path=tmp_path / "store.sqlite", public_url="http://intake.test"
    )
    with opened_ops(settings) as opened:
        yield opened


async def get(ops: Ops, path: str, user: str = "intake", **params: str) -> httpx.Response:
    async with ops.page_client(user) if path == "/" else ops.client(user) as client:
        return await client.get(path, params=params)


def assert_names(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["detail"] == "the request has invalid fields"
    assert [e["field"] for e in body["errors"]] == [field]
    assert "1990" in body["errors"][0]["message"] and "2100" in body["errors"][0]["message"]


@pytest.mark.parametrize("fmt", ["json", "csv"])
@pytest.mark.parametrize("path", AS_OF_ROUTES)
async def test_an_as_of_out_of_range_is_a_422_naming_it(ops: Ops, path: str, fmt: str) -> None:
    for moment in EXTREME_MOMENTS:
        assert_names(await get(ops, path, as_of=moment, format=fmt), "as_of")


@pytest.mark.parametrize("fmt", ["json", "csv"])
@pytest.mark.parametrize("path", RANGE_ROUTES)
async def test_months_out_of_range_are_a_422_naming_them(ops: Ops, path: str, fmt: str) -> None:
    for month in EXTREME_MONTHS:
        assert_names(await get(ops, path, to=month, format=fmt), "to")
        assert_names(await get(ops, path, format=fmt, **{"from": month, "to": "2026-06"}), "from")


@pytest.mark.parametrize("fmt", ["json", "csv"])
async def test_a_trend_month_out_of_range_is_a_422_naming_it(ops: Ops, fmt: str) -> None:
    for month in EXTREME_MONTHS:
        assert_names(await get(ops, "/api/trends", month=month, format=fmt), "month")


async def test_the_dashboard_refuses_months_out_of_range_in_its_form(ops: Ops) -> None:
    for month in EXTREME_MONTHS:
        page = await get(ops, "/", to=month)
        assert page.status_code == 422 and "between 1990 and 2100" in page.text


@pytest.mark.parametrize("field", ["since", "until"])
async def test_the_audit_query_refuses_moments_out_of_range(ops: Ops, field: str) -> None:
    for moment in EXTREME_MOMENTS:
        assert_names(await get(ops, "/api/audit", "admin", **{field: moment}), field)


async def test_the_edges_of_the_range_are_answered(ops: Ops) -> None:
    for path in AS_OF_ROUTES:
        for moment in ("1990-01-01T00:00+05:00", "2100-12-31T23:59:59-05:00", "2100-12-31"):
            assert (await get(ops, path, as_of=moment)).status_code == 200, (path, moment)
    assert (await get(ops, "/api/volume", **{"from": "2096-01", "to": "2100-12"})).status_code == 200
    assert (await get(ops, "/api/kpis", **{"from": "1990-01", "to": "1990-12"})).status_code == 200
    assert (await get(ops, "/api/trends", month="1990-01", window="60")).status_code == 200
    assert (await get(ops, "/api/trends", month="2100-12")).status_code == 200
    assert (await get(ops, "/", **{"from": "2100-01", "to": "2100-12"})).status_code == 200
    edges = {"since": "1990-01-01T00:00+05:00", "until": "2100-12-31T23:59:59-05:00"}
    assert (await get(ops, "/api/audit", "admin", **edges)).status_code == 200
