"""The report's due time and its deadlines, pinned with fixed dates and the practice's own time zone.

No test reads the wall clock; each practice is in a zone whose date differs from UTC's at the
moment used, and the machine's own zone is set to a third one, so a due time counted in UTC or
in the server's zone gives another answer.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from referral_loop.domain.deadlines import DeadlinePolicy, add_business_days, deadline_policy
from referral_loop.settings import Settings

LOS_ANGELES, AUCKLAND = ZoneInfo("America/Los_Angeles"), ZoneInfo("Pacific/Auckland")
WARNING = timedelta(hours=24)


def policy(zone: ZoneInfo, margin_hours: float = 24, business_days: int = 2) -> DeadlinePolicy:
    return DeadlinePolicy(zone, timedelta(hours=margin_hours), business_days, WARNING)


@pytest.fixture(autouse=True)
def server_in_kolkata(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The machine's local time zone is neither UTC nor the practice's."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_due_is_the_start_of_the_return_visit_day_in_the_practice_zone_minus_the_margin() -> None:
    seen = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
    due = policy(LOS_ANGELES, margin_hours=6).report_due(seen, date(2026, 12, 15))
    assert due == datetime(2026, 12, 14, 18, 0, tzinfo=LOS_ANGELES)
    assert due == datetime(2026, 12, 15, 2, 0, tzinfo=UTC), "not midnight UTC, nor the server's"


def test_due_before_a_return_visit_in_auckland_is_the_day_before_in_utc() -> None:
    due = policy(AUCKLAND, margin_hours=0).report_due(datetime(2026, 12, 1, tzinfo=UTC), date(2026, 12, 15))
    assert due == datetime(2026, 12, 14, 11, 0, tzinfo=UTC)  # 15 December 00:00 NZDT (UTC+13)


def test_with_no_return_visit_business_days_are_counted_on_the_practice_calendar() -> None:
    # Friday 20 November 23:30 in Los Angeles is already Saturday in UTC (and in Kolkata)
    friday_night = datetime(2026, 11, 21, 7, 30, tzinfo=UTC)
    due = policy(LOS_ANGELES).report_due(friday_night, None)
    assert due == datetime(2026, 11, 24, 23, 30, tzinfo=LOS_ANGELES)  # Tuesday, same time of day
    assert due.utcoffset() == timedelta(hours=-8), "given in the practice's time"


def test_a_visit_on_an_auckland_friday_is_a_utc_thursday_and_due_on_monday() -> None:
    friday_morning = datetime(2026, 11, 19, 19, 0, tzinfo=UTC)  # Friday 20 November 08:00 NZDT
    due = policy(AUCKLAND, business_days=1).report_due(friday_morning, None)
    assert due == datetime(2026, 11, 23, 8, 0, tzinfo=AUCKLAND)


def test_a_return_visit_wins_over_business_days() -> None:
    seen = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    due = policy(LOS_ANGELES, margin_hours=24, business_days=10).report_due(seen, date(2026, 11, 23))
    assert due == datetime(2026, 11, 22, 0, 0, tzinfo=LOS_ANGELES)


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (datetime(2026, 11, 20, 15, 0, tzinfo=UTC), 1, datetime(2026, 11, 23, 15, 0, tzinfo=UTC)),  # Fri
        (datetime(2026, 11, 20, 15, 0, tzinfo=UTC), 2, datetime(2026, 11, 24, 15, 0, tzinfo=UTC)),
        (datetime(2026, 11, 21, 9, 0, tzinfo=UTC), 1, datetime(2026, 11, 23, 9, 0, tzinfo=UTC)),  # Sat
        (datetime(2026, 11, 22, 9, 0, tzinfo=UTC), 1, datetime(2026, 11, 23, 9, 0, tzinfo=UTC)),  # Sun
        (datetime(2026, 11, 19, 9, 0, tzinfo=UTC), 1, datetime(2026, 11, 20, 9, 0, tzinfo=UTC)),  # Thu
        (datetime(2026, 11, 16, 9, 0, tzinfo=UTC), 5, datetime(2026, 11, 23, 9, 0, tzinfo=UTC)),  # Mon
        (datetime(2026, 11, 21, 9, 0, tzinfo=UTC), 0, datetime(2026, 11, 21, 9, 0, tzinfo=UTC)),
    ],
)
def test_business_days_skip_saturday_and_sunday(start: datetime, days: int, expected: datetime) -> None:
    assert add_business_days(start, days) == expected


def test_due_soon_from_the_warning_until_the_due_time_then_overdue_alone() -> None:
    due, reached = datetime(2026, 12, 14, tzinfo=UTC), policy(ZoneInfo("UTC")).reached
    assert reached(due, due - WARNING - timedelta(microseconds=1)) == []
    assert reached(due, due - WARNING) == ["due_soon"]
    assert reached(due, due - timedelta(microseconds=1)) == ["due_soon"]
    assert reached(due, due) == ["overdue"]


def test_once_the_due_time_has_passed_only_overdue_is_reached() -> None:
    """A watch that wakes after the due time (a replay, a restart, a clock jump) does not send
    ops 'due soon' and 'overdue' at the same instant."""
    due = datetime(2026, 12, 14, tzinfo=UTC)
    assert policy(ZoneInfo("UTC")).reached(due, due + timedelta(days=30)) == ["overdue"]


def test_the_policy_is_built_from_the_settings() -> None:
    settings = Settings(
        practice_timezone="Pacific/Auckland",
        report_margin_hours=6.5,
        report_default_business_days=3,
        report_warning_hours=12,
    )
    assert deadline_policy(settings) == DeadlinePolicy(
        AUCKLAND, timedelta(hours=6, minutes=30), 3, timedelta(hours=12)
    )
