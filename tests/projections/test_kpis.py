"""Loop KPIs, scorecards and CMS50 at the edges of their rules, each on a small history of its own.

The clock is injected (`as_of`, never the machine's now); so is the practice's time zone, which
KPIs do not use: their days are 24-hour spans and their "return visit's day" starts at 00:00 UTC.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from services.projections.models import VolumeFilter
from services.projections.queries.kpis import cms50, kpis, scorecards
from tests.projections import seed
from tests.projections.conftest import Project
from tests.projections.seed import DAY, Office, SeededHistory, at

MICRO = timedelta(microseconds=1)
HOUR = timedelta(hours=1)


def office(key: str, name: str | None = None) -> Office:
    return replace(seed.C, clinic={"name": name or key.split("@")[0].title(), "report_email": key})


def span(first: str, last: str, **filters: Any) -> VolumeFilter:
    return VolumeFilter.model_validate({"first_month": first, "last_month": last, **filters})


def test_lead_times_under_a_day_in_tenths_of_24_hour_days(project: Project) -> None:
    """Leads of 8 h (0.33 days) and 10 h 48 min (0.45 days): median 0.39 -> 0.4, p90 0.45 -> 0.5."""
    h = SeededHistory()
    for day, lead in [("2026-10-05", 8 * HOUR), ("2026-10-06", timedelta(hours=10, minutes=48))]:
        rid = h.refer(office("quick@x.example"), at(day))
        h.book(rid, at(day) + lead, at(day) + 3 * DAY)
    (october,) = kpis(project(h), span("2026-10", "2026-10"))
    assert (october.referrals, october.scheduled) == (2, 2)
    assert (october.lead_time_days_median, october.lead_time_days_p90) == (0.4, 0.5)


def test_a_report_at_midnight_of_the_return_visit_day_is_not_before_it(project: Project) -> None:
    h = SeededHistory()
    for name, sent in [("before", at("2026-10-20", 0) - MICRO), ("at-midnight", at("2026-10-20", 0))]:
        rid = h.refer(office(f"{name}@x.example"), at("2026-10-01"), return_visit_on="2026-10-20")
        h.loop(rid, at("2026-10-01"), 2, 10, None)
        h.report(rid, sent)
    db = project(h)
    (both,) = kpis(db, span("2026-10", "2026-10"))
    assert (both.reports_sent, both.reports_before_return_visit_share) == (2, 0.5)
    shares = {
        c.clinic: c.reports_before_return_visit_share for c in scorecards(db, span("2026-10", "2026-10"))
    }
    assert shares == {"before@x.example": 1.0, "at-midnight@x.example": 0.0}


def test_a_loop_closes_after_receipt_and_before_the_year_ends(project: Project) -> None:
    """CMS50 2025: reported at 2026-01-01 00:00 is too late; reported at the referral's own instant
    is not "after it was received"; a microsecond earlier or later each counts."""
    h = SeededHistory()
    cases = {
        "new-year@x.example": (at("2025-03-03"), at("2026-01-01", 0)),
        "year-end@x.example": (at("2025-03-03"), at("2026-01-01", 0) - MICRO),
        "same-instant@x.example": (at("2025-04-01"), at("2025-04-01")),
        "just-after@x.example": (at("2025-04-01"), at("2025-04-01") + MICRO),
    }
    for key, (received, sent) in cases.items():
        h.report(h.refer(office(key), received), sent)
    db = project(h)
    closed = {key: cms50(db, 2025, clinic=key).numerator for key in cases}
    assert closed == {
        "new-year@x.example": 0,
        "year-end@x.example": 1,
        "same-instant@x.example": 0,
        "just-after@x.example": 1,
    }
    assert (cms50(db, 2025).denominator, cms50(db, 2025).numerator) == (4, 2)


def test_the_closure_rate_on_a_scorecard_is_as_known_on_as_of(project: Project) -> None:
    """A February referral reported on the 20th, the report keyed only on 10 March."""
    h = SeededHistory()
    rid = h.refer(office("closing@x.example"), at("2026-02-02"))
    h.loop(rid, at("2026-02-02"), 3, 10, None)
    h.report(rid, at("2026-02-20"), recorded=at("2026-03-10"))
    db = project(h)

    def closure(as_of: Any) -> float | None:
        (card,) = scorecards(db, span("2026-01", "2026-10", as_of=as_of))
        return card.loop_closure_rate

    assert (closure(at("2026-03-10") - MICRO), closure(at("2026-03-10")), closure(None)) == (0.0, 1.0, 1.0)


def test_a_booking_counts_from_the_instant_it_was_keyed(project: Project) -> None:
    h = SeededHistory()
    rid = h.refer(office("keyed@x.example"), at("2026-03-02"))
    h.book(rid, at("2026-03-04"), at("2026-03-20"), recorded=at("2026-03-09"))
    db = project(h)

    def booked(as_of: Any) -> tuple[int, float | None]:
        (march,) = kpis(db, span("2026-03", "2026-03", as_of=as_of))
        return march.scheduled, march.lead_time_days_median

    assert booked(at("2026-03-09") - MICRO) == (0, None)
    assert booked(at("2026-03-09")) == (1, 2.0)


def test_referrals_at_the_same_instant_are_ordered_by_id(project: Project) -> None:
    """Two referrals of one office for one patient, received at the same instant under two names:
    the scorecard's label and CMS50's "first referral" are the greater and the lesser id's."""
    h = SeededHistory()
    patient = {"given_name": "Tie", "family_name": "Twice", "birth_date": "1960-06-06"}
    ids = {
        name: h.refer(office("tied@x.example", name), at("2026-02-02"), patient=patient)
        for name in ("Tied Clinic", "Tied Clinic (new name)")
    }
    first = min(ids, key=lambda name: str(ids[name]))
    h.report(ids[first], at("2026-02-20"))
    db = project(h)
    (card,) = scorecards(db, span("2026-01", "2026-10"))
    assert card.label == max(ids, key=lambda name: str(ids[name]))
    assert (card.referrals, card.loop_closure_rate) == (2, 1.0)
    found = cms50(db, 2026, clinic="tied@x.example")
    assert (found.denominator, found.numerator) == (1, 1)
