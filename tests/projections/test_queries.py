"""The read-model queries give exactly the known answers of the seeded history, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import pytest

from referral_loop.domain.deadlines import deadline_policy
from referral_loop.settings import Settings
from services.projections.db import Database
from services.projections.models import Dimension, Kpis, Trend, VolumeFilter, VolumeReport
from services.projections.projector import Projector
from services.projections.queries.kpis import cms50, kpis, scorecards
from services.projections.queries.trends import classify, trends
from services.projections.queries.volume import months_between, shift_month, volume
from services.projections.queries.worklists import worklists
from tests.projections import seed
from tests.projections.seed import at


@dataclass
class Seeded:
    db: Database
    ids: dict[str, UUID]

    def names(self, referral_ids: list[str]) -> list[str]:
        by_id = {str(rid): name for name, rid in self.ids.items()}
        return [by_id[r] for r in referral_ids]


@pytest.fixture
def seeded(store_settings: Settings) -> Iterator[Seeded]:
    db = Database(store_settings)
    history = seed.history()
    Projector(db, deadline_policy(store_settings)).process(history.pages())
    yield Seeded(db, history.ids)
    db.close()


def span(first: str, last: str, **filters: object) -> VolumeFilter:
    return VolumeFilter.model_validate({"first_month": first, "last_month": last, **filters})


def answers(report: VolumeReport) -> list[seed.VolumeAnswer]:
    return [
        (row.key, row.label, list(row.months.values()), list(row.previous_year.values()))
        for row in report.rows
    ]


def kpi_answer(k: Kpis) -> seed.KpiAnswer:
    return (
        k.referrals,
        k.scheduled,
        k.lead_time_days_median,
        k.lead_time_days_p90,
        k.no_show_rate,
        k.reports_sent,
        k.visit_to_report_days_median,
        k.reports_before_return_visit_share,
    )


# Volume -----------------------------------------------------------------------------------------


def test_volume_by_clinic_has_every_month_zeros_and_the_previous_year(seeded: Seeded) -> None:
    report = volume(seeded.db, Dimension.CLINIC, span("2026-06", "2026-10"))
    assert report.months == ["2026-06", "2026-07", "2026-08", "2026-09", "2026-10"]
    assert answers(report) == seed.CLINICS_JUN_OCT_2026
    assert list(report.rows[0].previous_year) == ["2025-06", "2025-07", "2025-08", "2025-09", "2025-10"]
    assert [(r.total, r.previous_year_total) for r in report.rows] == [
        (13, 15),
        (10, 11),
        (8, 3),
        (3, 0),
        (2, 5),
    ]
    assert list(report.totals.values()) == seed.TOTALS_JUN_OCT_2026
    assert (report.total_rows, report.offset, report.limit) == (5, 0, 50)


def test_volume_by_provider(seeded: Seeded) -> None:
    report = volume(seeded.db, Dimension.PROVIDER, span("2026-03", "2026-06"))
    assert answers(report) == seed.PROVIDERS_MAR_JUN_2026
    assert list(report.totals.values()) == [9, 8, 8, 8]


def test_volume_by_kind_of_referral(seeded: Seeded) -> None:
    for dimension, expected in seed.SEP_OCT_2026.items():
        report = volume(seeded.db, Dimension(dimension), span("2026-09", "2026-10"))
        assert answers(report) == expected, dimension
        assert list(report.totals.values()) == [7, 9]


def test_volume_total_over_a_year_and_year_to_date(seeded: Seeded) -> None:
    year = volume(seeded.db, Dimension.TOTAL, span("2025-01", "2025-12"))
    assert answers(year) == [("all", "All referrals", seed.TOTAL_2025, [0] * 12)]
    assert year.rows[0].total == 82
    to_date = volume(seeded.db, Dimension.TOTAL, span("2026-01", "2026-10")).rows[0]
    assert list(to_date.months.values()) == seed.TOTAL_JAN_OCT_2026
    assert (to_date.total, to_date.previous_year_total) == (76, 68)


def test_volume_over_more_than_a_year_counts_overlapping_months_in_both_columns(seeded: Seeded) -> None:
    row = volume(seeded.db, Dimension.TOTAL, span("2025-01", "2026-10")).rows[0]
    assert row.total == 158
    assert row.previous_year["2025-01"] == 7 and row.months["2025-01"] == 7
    assert row.previous_year_total == 68


def test_volume_top_and_pages(seeded: Seeded) -> None:
    window = span("2026-06", "2026-10")
    top = volume(seeded.db, Dimension.CLINIC, window, top=3)
    assert [r.key for r in top.rows] == [seed.VALLEY, seed.HARBOR_KEY, seed.NORTHSIDE]
    assert top.total_rows == 3
    assert list(top.totals.values()) == seed.TOTALS_JUN_OCT_2026
    page = volume(seeded.db, Dimension.CLINIC, window, offset=1, limit=2)
    assert [r.key for r in page.rows] == [seed.HARBOR_KEY, seed.NORTHSIDE]
    assert (page.total_rows, page.offset, page.limit) == (5, 1, 2)
    assert volume(seeded.db, Dimension.CLINIC, window, top=3, offset=2, limit=5).rows[0].key == seed.NORTHSIDE


def test_volume_as_known_on_a_date(seeded: Seeded) -> None:
    for day, expected in seed.HARBOR_JAN_MAR_2026_AS_OF.items():
        report = volume(seeded.db, Dimension.CLINIC, span("2026-01", "2026-03", as_of=at(day)))
        harbor = next(r for r in report.rows if r.key == seed.HARBOR_KEY)
        assert list(harbor.months.values()) == expected, day
    now = volume(seeded.db, Dimension.CLINIC, span("2026-01", "2026-03"))
    assert next(r for r in now.rows if r.key == seed.HARBOR_KEY).months["2026-03"] == 3
    early = volume(seeded.db, Dimension.TOTAL, span("2026-01", "2026-03", as_of=at("2026-04-15")))
    assert list(early.totals.values()) == [8, 7, 8]


def test_volume_counted_from_referrals_equals_the_counters(seeded: Seeded) -> None:
    """As known in 2030 (counted from referral_view) is as the counters say, for every dimension."""
    for first, last in [("2025-01", "2026-10"), ("2026-03", "2026-06"), ("2026-09", "2026-10")]:
        for dimension in Dimension:
            window = span(first, last)
            later = window.model_copy(update={"as_of": at("2030-01-01")})
            assert volume(seeded.db, dimension, later) == volume(seeded.db, dimension, window), (
                dimension,
                first,
            )


def test_volume_filtered_by_clinic_provider_or_specialty(seeded: Seeded) -> None:
    harbor = volume(
        seeded.db, Dimension.PROVIDER, span("2025-01", "2025-12", clinic="Reports@Harbor.example")
    )
    assert [(r.key, r.total) for r in harbor.rows] == [("1234567893", 24), ("1234567901", 2)]
    assert sum(harbor.totals.values()) == 26
    turing = volume(seeded.db, Dimension.CLINIC, span("2025-01", "2025-12", provider_npi="1234567901"))
    assert [(r.key, list(r.months.values())) for r in turing.rows] == [
        (seed.HARBOR_KEY, [0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0])
    ]
    derm = volume(seeded.db, Dimension.CLINIC, span("2026-09", "2026-10", specialty="Dermatology"))
    assert [(r.key, r.total) for r in derm.rows] == [(seed.NORTHSIDE, 5), (seed.SUMMIT, 3)]


def test_months_are_checked(seeded: Seeded) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        volume(seeded.db, Dimension.TOTAL, span("2026-13", "2026-14"))
    with pytest.raises(ValueError, match="after"):
        volume(seeded.db, Dimension.TOTAL, span("2026-10", "2026-01"))
    assert months_between("2025-11", "2026-02") == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert shift_month("2026-01", -1) == "2025-12"


# Trends -----------------------------------------------------------------------------------------


def trend_answers(found: list[Trend]) -> list[seed.TrendAnswer]:
    return [
        (
            t.key,
            t.status.value,
            t.count,
            t.baseline,
            t.explanation,
            (t.misses.late_reports, t.misses.slow_bookings, t.misses.no_shows),
        )
        for t in found
    ]


def test_trends_by_clinic_name_the_lapsing_declining_new_growing_and_steady(seeded: Seeded) -> None:
    found = trends(seeded.db, Dimension.CLINIC, "2026-10")
    assert trend_answers(found) == seed.CLINIC_TRENDS_OCT_2026
    assert [t.label for t in found][:2] == ["Lakeside Clinic", "Valley Internal Medicine"]
    assert {t.month for t in found} == {"2026-10"}


def test_trends_by_provider(seeded: Seeded) -> None:
    found = trends(seeded.db, Dimension.PROVIDER, "2026-10")
    assert [t.key for t in found] == seed.PROVIDER_TRENDS_OCT_2026
    assert found[0].label == "Dr. Barbara Liskov"
    assert trend_answers(found)[0][1:] == seed.CLINIC_TRENDS_OCT_2026[0][1:]


def test_a_referrer_that_later_lapses_was_steady_in_may(seeded: Seeded) -> None:
    found = trends(seeded.db, Dimension.CLINIC, "2026-05")
    lakeside = [a for a in trend_answers(found) if a[0] == seed.LAKESIDE]
    assert lakeside == [seed.LAKESIDE_MAY_2026]
    assert seed.SUMMIT not in {t.key for t in found}


def test_trends_as_known_on_a_date(seeded: Seeded) -> None:
    def harbor_march(as_of: datetime | None) -> int:
        found = trends(seeded.db, Dimension.CLINIC, "2026-03", as_of=as_of)
        return next(t.count for t in found if t.key == seed.HARBOR_KEY)

    assert (harbor_march(at("2026-04-15")), harbor_march(at("2026-06-01")), harbor_march(None)) == (2, 3, 3)


def test_trend_misses_are_judged_as_known_at_the_cutoff(seeded: Seeded) -> None:
    """On 1 June 2026 Northside's May referral (seen 1 June, due 3 June) is not late yet."""
    found = trends(seeded.db, Dimension.CLINIC, "2026-05", as_of=at("2026-06-01", 12))
    northside = next(t for t in found if t.key == seed.NORTHSIDE)
    assert northside.misses.late_reports == 0
    valley = next(t for t in found if t.key == seed.VALLEY)
    assert valley.misses.slow_bookings == 0  # D2's 14 days run to 3 June


def test_trend_misses_use_what_was_recorded_by_as_of(seeded: Seeded) -> None:
    for day, expected in seed.VALLEY_MAY_2026_SLOW_BOOKINGS_AS_OF.items():
        found = trends(seeded.db, Dimension.CLINIC, "2026-05", as_of=at(day))
        assert next(t.misses for t in found if t.key == seed.VALLEY).slow_bookings == expected, day


def test_trend_rules_at_their_boundaries() -> None:
    assert classify(3, 30, 6, 3, False).value == "steady"  # 3 is exactly 0.6 x 5
    assert classify(2, 30, 6, 2, False).value == "declining"
    assert classify(7, 30, 6, 7, False).value == "steady"  # 7 is exactly 1.4 x 5
    assert classify(8, 30, 6, 8, False).value == "growing"
    assert classify(2, 3, 6, 2, False).value == "steady"  # 4 x the baseline of 0.5, but only 1.5 more
    assert classify(3, 6, 6, 3, False).value == "growing"
    assert classify(0, 5, 6, 1, False).value == "steady"  # baseline under 1: not declining
    assert classify(0, 5, 6, 0, False).value == "lapsed"
    assert classify(0, 1, 6, 0, False).value == "lapsed"  # a single referral in the window is enough
    assert classify(0, 0, 6, 0, False).value == "steady"  # no baseline: nothing to lapse from
    assert classify(0, 6, 6, 1, False).value == "declining"  # a baseline of exactly 1
    assert classify(1, 12, 6, 1, False).value == "declining"  # 1 is under 0.6 x 2 = 1.2
    assert classify(5, 0, 6, 5, True).value == "new"


def test_trends_refuse_other_dimensions(seeded: Seeded) -> None:
    with pytest.raises(ValueError, match="clinic or provider"):
        trends(seeded.db, Dimension.PAYER, "2026-10")


# Worklists --------------------------------------------------------------------------------------


def test_worklists_put_each_open_referral_in_one_list_oldest_first(seeded: Seeded) -> None:
    lists = worklists(seeded.db, seed.NOW)
    for name, expected in seed.WORKLISTS_AT_NOW.items():
        items = getattr(lists, name)
        assert [
            (name, i.age_days)
            for name, i in zip(seeded.names([i.referral_id for i in items]), items, strict=True)
        ] == expected
    assert len(lists.closed) == seed.CLOSED_COUNT
    assert seeded.names([i.referral_id for i in lists.closed[:3]]) == seed.CLOSED_MOST_RECENT
    overdue = lists.overdue[0]
    assert overdue.report_due_at == at("2026-06-03") and overdue.seen_at == at("2026-06-01")
    assert (overdue.clinic, overdue.provider_name, overdue.status) == (
        "Northside Pediatrics",
        "Dr. Carl Sagan",
        "seen",
    )
    assert lists.scheduled[0].appointment_at == at("2026-11-10")
    assert lists.to_schedule[0].status == "no_show"


def test_worklists_are_limited_and_move_with_now(seeded: Seeded) -> None:
    lists = worklists(seeded.db, seed.NOW, limit=3)
    assert seeded.names([i.referral_id for i in lists.to_schedule]) == ["oct-D1", "oct-C3", "oct-E2"]
    assert seeded.names([i.referral_id for i in lists.closed]) == seed.CLOSED_MOST_RECENT
    later = worklists(seeded.db, at("2026-11-19") + timedelta(minutes=1))
    assert seeded.names([i.referral_id for i in later.overdue]) == ["may-C1", "oct-C2"]
    assert later.awaiting_report == []


# KPIs, scorecards, CMS50 ------------------------------------------------------------------------


def test_monthly_kpis(seeded: Seeded) -> None:
    found = kpis(seeded.db, span("2026-05", "2026-10"))
    assert [k.month for k in found] == months_between("2026-05", "2026-10")
    assert kpi_answer(found[0]) == seed.KPIS_MAY_2026
    assert kpi_answer(found[-1]) == seed.KPIS_OCT_2026
    assert found[0].clinic is None


def test_monthly_kpis_for_one_office_and_empty_months(seeded: Seeded) -> None:
    harbor = kpis(seeded.db, span("2026-05", "2026-05", clinic=seed.HARBOR_KEY))
    assert [kpi_answer(k) for k in harbor] == [seed.KPIS_MAY_2026_HARBOR]
    assert harbor[0].clinic == seed.HARBOR_KEY
    summit = kpis(seeded.db, span("2026-07", "2026-07", clinic=seed.SUMMIT))
    assert [kpi_answer(k) for k in summit] == [(0, 0, None, None, None, 0, None, None)]


def test_monthly_kpis_as_known_on_a_date(seeded: Seeded) -> None:
    for day, expected in seed.KPIS_MAR_2026_AS_OF.items():
        (march,) = kpis(seeded.db, span("2026-03", "2026-03", as_of=at(day)))
        assert kpi_answer(march) == expected, day


def test_scorecards_per_referring_office(seeded: Seeded) -> None:
    cards = scorecards(seeded.db, span("2026-01", "2026-10"))
    assert [
        (
            c.clinic,
            c.label,
            c.referrals,
            c.lead_time_days_median,
            c.visit_to_report_days_median,
            c.reports_before_return_visit_share,
            c.loop_closure_rate,
        )
        for c in cards
    ] == seed.SCORECARDS_2026
    (one,) = scorecards(seeded.db, span("2026-01", "2026-10", clinic=seed.NORTHSIDE))
    assert (one.clinic, one.referrals, one.loop_closure_rate) == (seed.NORTHSIDE, 12, 0.6667)


def test_cms50_first_referral_of_the_year_reported_by_year_end(seeded: Seeded) -> None:
    for year, answers_by_clinic in [(2025, seed.CMS50_2025), (2026, seed.CMS50_2026)]:
        for clinic, answer in answers_by_clinic.items():
            found = cms50(seeded.db, year, clinic=clinic)
            assert (found.denominator, found.numerator, found.rate) == answer, (year, clinic)
            assert (found.year, found.clinic, found.as_of) == (year, clinic, None)


def test_cms50_as_known_on_a_date(seeded: Seeded) -> None:
    found = cms50(seeded.db, 2025, clinic="Referrals@Lakeside.example", as_of=at("2025-11-05"))
    assert (found.denominator, found.numerator, found.rate) == seed.CMS50_2025_LAKESIDE_AS_OF_NOV_5
    assert found.as_of == at("2025-11-05").date() and found.clinic == seed.LAKESIDE
    assert cms50(seeded.db, 2024).rate is None
