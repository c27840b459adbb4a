"""Referrer trends at the edges of their rules, each on a small history of its own.

October 2026 with the default 6-month window: the window is April - October 2026 and the recent
three months are August - October. The clock is injected (`as_of`, never the machine's now) and
so is the practice's time zone (America/Chicago, not the server's): a report with no return
visit known is due two business days after the visit, at the same time of day there.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from uuid import UUID

import pytest

from services.projections.models import Dimension, Trend
from services.projections.queries.trends import trends
from tests.projections import seed
from tests.projections.conftest import Project
from tests.projections.seed import DAY, Office, SeededHistory, at

MONTH = "2026-10"
LATER = at("2026-12-01")
"""An as-of long after October: the cutoff is then October's last instant."""
MICRO = timedelta(microseconds=1)


def office(key: str, name: str | None = None, provider: dict[str, str] | None = None) -> Office:
    """An office of its own for one rule: its clinic key is `key` (its report address)."""
    clinic = {"name": name or key.split("@")[0].title(), "report_email": key}
    return replace(seed.C, clinic=clinic, provider=provider or seed.C.provider)


def by_key(found: list[Trend]) -> dict[str, tuple[str, int, float, str]]:
    return {t.key: (t.status.value, t.count, t.baseline, t.explanation) for t in found}


def misses(found: list[Trend]) -> dict[str, tuple[int, int, int]]:
    return {t.key: (t.misses.late_reports, t.misses.slow_bookings, t.misses.no_shows) for t in found}


# "New": no referral before the window, and the first one in the last three months ---------------

RETURNING, NEWCOMER, FADED = "returning@x.example", "newcomer@x.example", "faded@x.example"


def comeback_history() -> SeededHistory:
    h = SeededHistory()
    h.close(h.refer(office(RETURNING), at("2025-01-10")), at("2025-01-10"))  # long before the window
    h.close(h.refer(office(RETURNING), at("2026-08-03")), at("2026-08-03"))  # back, on the recent edge
    h.close(h.refer(office(NEWCOMER), at("2026-08-06")), at("2026-08-06"))  # first ever, same month
    h.close(h.refer(office(FADED), at("2026-07-09")), at("2026-07-09"))  # first ever, just before it
    return h


def test_an_office_back_after_a_long_gap_is_not_new(project: Project) -> None:
    db = project(comeback_history())
    assert by_key(trends(db, Dimension.CLINIC, MONTH, as_of=LATER)) == {
        FADED: ("lapsed", 0, 0.17, "no referrals since July 2026 after a 6-month average of 0.2"),
        NEWCOMER: ("new", 0, 0.17, "first referral in August 2026"),
        RETURNING: ("steady", 0, 0.17, "0 referrals in October 2026 against a 6-month average of 0.2"),
    }


def test_the_earlier_referral_counts_only_once_it_is_known(project: Project) -> None:
    """As known on 1 November, the office's 2025 referral (keyed on 15 November) was not there."""
    h = SeededHistory()
    keyed_late = office("keyed-late@x.example")
    h.refer(keyed_late, at("2025-02-12"), recorded=at("2026-11-15"))
    h.close(h.refer(keyed_late, at("2026-09-15")), at("2026-09-15"))
    db = project(h)
    before = by_key(trends(db, Dimension.CLINIC, MONTH, as_of=at("2026-11-15") - MICRO))
    assert before["keyed-late@x.example"][:2] == ("new", 0)
    from_then_on = by_key(trends(db, Dimension.CLINIC, MONTH, as_of=at("2026-11-15")))
    assert from_then_on["keyed-late@x.example"][:2] == ("steady", 0)


def test_a_provider_back_after_a_long_gap_is_not_new(project: Project) -> None:
    h = SeededHistory()
    turing, dijkstra = seed.A2.provider, seed.E.provider
    h.close(h.refer(office("a@x.example", provider=turing), at("2025-01-10")), at("2025-01-10"))
    h.close(h.refer(office("b@x.example", provider=turing), at("2026-08-03")), at("2026-08-03"))
    h.close(h.refer(office("b@x.example", provider=dijkstra), at("2026-08-06")), at("2026-08-06"))
    found = trends(project(h), Dimension.PROVIDER, MONTH, as_of=LATER)
    assert by_key(found) == {
        dijkstra["npi"]: ("new", 0, 0.17, "first referral in August 2026"),
        turing["npi"]: ("steady", 0, 0.17, "0 referrals in October 2026 against a 6-month average of 0.2"),
    }


# The three recent months --------------------------------------------------------------------------


def test_lapsed_means_nothing_in_the_last_three_months(project: Project) -> None:
    """Referrals up to two months before October keep an office off "lapsed"; three months is lapsed."""
    h = SeededHistory()
    for key, months in {
        "two-ago@x.example": ["2026-04", "2026-05", "2026-08"],
        "three-ago@x.example": ["2026-04", "2026-05", "2026-07"],
    }.items():
        for month in months:
            h.close(h.refer(office(key), at(f"{month}-02")), at(f"{month}-02"))
    found = by_key(trends(project(h), Dimension.CLINIC, MONTH, as_of=LATER))
    assert found == {
        "three-ago@x.example": (
            "lapsed",
            0,
            0.5,
            "no referrals since July 2026 after a 6-month average of 0.5",
        ),
        "two-ago@x.example": (
            "steady",
            0,
            0.5,
            "0 referrals in October 2026 against a 6-month average of 0.5",
        ),
    }


def test_the_label_is_the_latest_referrals(project: Project) -> None:
    h = SeededHistory()
    key = "renamed@x.example"
    for day, name in [("2026-05-04", "Old Name"), ("2026-06-04", "Middle Name"), ("2026-10-04", "New Name")]:
        h.close(h.refer(office(key, name), at(day)), at(day))
    (found,) = trends(project(h), Dimension.CLINIC, MONTH, as_of=LATER)
    assert (found.key, found.label) == (key, "New Name")


def test_the_window_and_the_dimension_are_checked(project: Project) -> None:
    h = SeededHistory()
    h.close(h.refer(office("one@x.example"), at("2025-09-02")), at("2025-09-02"))
    h.close(h.refer(office("one@x.example"), at("2026-09-02")), at("2026-09-02"))
    h.close(h.refer(office("one@x.example"), at("2026-10-02")), at("2026-10-02"))
    db = project(h)
    (one_month,) = trends(db, Dimension.CLINIC, MONTH, window_months=1, as_of=LATER)
    assert (one_month.count, one_month.baseline, one_month.explanation) == (
        1,
        1.0,
        "1 referral in October 2026 against a 1-month average of 1.0",
    )
    with pytest.raises(ValueError, match=r"^the window is at least one month$"):
        trends(db, Dimension.CLINIC, MONTH, window_months=0)
    with pytest.raises(ValueError, match=r"^trends are by referring clinic or provider$"):
        trends(db, Dimension.SPECIALTY, MONTH)


# Misses: slow bookings (14 days), late reports, as known on a date ---------------------------------

BOOKED_ON_DAY_14, UNBOOKED, MONTH_END, LAST_INSTANT = (
    "booked-on-day-14@x.example",
    "unbooked@x.example",
    "month-end@x.example",
    "last-instant@x.example",
)


def booking_history() -> SeededHistory:
    h = SeededHistory()
    received = at("2026-10-05")
    rid = h.refer(office(BOOKED_ON_DAY_14), received)  # booked exactly 14 days after: in time
    h.book(rid, received + 14 * DAY, at("2026-10-25"), recorded=received + 14 * DAY)
    h.refer(office(UNBOOKED), received)  # never booked: slow from 19 October 10:00 on
    h.refer(office(MONTH_END), at("2026-10-18", 0))  # its 14 days end at 1 November 00:00
    h.refer(office(LAST_INSTANT), at("2026-11-01", 0) - 14 * DAY - MICRO)  # ... at October's last instant
    return h


def test_a_booking_is_slow_from_the_fourteenth_day_on(project: Project) -> None:
    db = project(booking_history())
    fourteen_days = at("2026-10-19")

    def slow(as_of: datetime) -> dict[str, int]:
        return {k: m[1] for k, m in misses(trends(db, Dimension.CLINIC, MONTH, as_of=as_of)).items()}

    none = {BOOKED_ON_DAY_14: 0, UNBOOKED: 0, MONTH_END: 0, LAST_INSTANT: 0}
    assert slow(fourteen_days - MICRO) == none
    # The booking, made and keyed at the 14th day's very instant, is known and in time.
    assert slow(fourteen_days) == none | {UNBOOKED: 1}
    # After October, judged at October's last instant (23:59:59.999999), not at 1 November.
    assert slow(LATER) == {BOOKED_ON_DAY_14: 0, UNBOOKED: 1, MONTH_END: 0, LAST_INSTANT: 1}


ON_TIME, UNREPORTED, VISIT_KEYED_LATE, REPORT_KEYED_LATE, FRIDAY_EVENING = (
    "on-time@x.example",
    "unreported@x.example",
    "visit-keyed-late@x.example",
    "report-keyed-late@x.example",
    "friday-evening@x.example",
)
SEEN = at("2026-10-05", 15)
"""Monday 5 October, 10:00 in Chicago: the report is due Wednesday 7 October 10:00 there."""
DUE = at("2026-10-07", 15)
KEYED = at("2026-10-20")


def report_history() -> SeededHistory:
    h = SeededHistory()
    received = at("2026-10-01")

    def seen(key: str, when: datetime = SEEN, recorded: datetime | None = None) -> UUID:
        rid = h.refer(office(key), received)
        h.book(rid, received + DAY, when)
        h.see(rid, when, recorded)
        return rid

    h.report(seen(ON_TIME), DUE, recorded=DUE)  # sent (and keyed) at the due time itself: in time
    seen(UNREPORTED)
    seen(VISIT_KEYED_LATE, recorded=KEYED)  # the visit happened on the 5th, keyed on the 20th
    h.report(seen(REPORT_KEYED_LATE), SEEN + DAY, recorded=KEYED)  # sent on the 6th, keyed on the 20th
    # Friday 21:00 in Chicago is Saturday 02:00 UTC: due Tuesday 21:00 there (Wednesday 02:00 UTC);
    # business days counted in UTC would have made it due on Tuesday 02:00.
    seen(FRIDAY_EVENING, when=at("2026-10-10", 2))
    return h


def test_a_report_is_late_from_its_due_time_as_known_then(project: Project) -> None:
    db = project(report_history())

    def late(as_of: datetime) -> dict[str, int]:
        return {k: m[0] for k, m in misses(trends(db, Dimension.CLINIC, MONTH, as_of=as_of)).items()}

    everyone = dict.fromkeys([ON_TIME, UNREPORTED, VISIT_KEYED_LATE, REPORT_KEYED_LATE, FRIDAY_EVENING], 0)
    assert late(DUE - MICRO) == everyone
    # Due now: the unreported one is late; the report sent on the 6th is not known yet, so it is
    # late as known on this day; the visit keyed on the 20th is not known, so nothing is due.
    assert late(DUE) == everyone | {UNREPORTED: 1, REPORT_KEYED_LATE: 1}
    assert late(at("2026-10-13", 12)) == everyone | {UNREPORTED: 1, REPORT_KEYED_LATE: 1}
    assert late(at("2026-10-14", 2)) == everyone | {UNREPORTED: 1, REPORT_KEYED_LATE: 1, FRIDAY_EVENING: 1}
    # Keyed on the 20th at 10:00: known from that very instant on; the report was sent in time.
    expected_from_the_20th = everyone | {UNREPORTED: 1, VISIT_KEYED_LATE: 1, FRIDAY_EVENING: 1}
    assert late(KEYED) == expected_from_the_20th
    assert late(LATER) == expected_from_the_20th
