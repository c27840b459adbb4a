"""contracts.bounds at its edges: each range's first and last valid value, the messages, the
present taken from the context (or the clock, in UTC), and dates counted in whole years."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from contracts.bounds import EARLIEST_BIRTH, EARLIEST_EVENT, LATEST, now_at_edge, years_from
from contracts.fields import BirthDate, EventTime, RecordedTime, ScheduledDate
from contracts.forgetting import STORED_CONTEXT

NOW = {"now": datetime(2026, 3, 15, 9, 30, tzinfo=UTC)}


def check(kind: Any, value: Any, context: dict[str, Any]) -> Any:
    return TypeAdapter(kind).validate_python(value, context=context)


def message(kind: Any, value: Any, context: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        check(kind, value, context)
    return str(caught.value.errors()[0]["msg"]).removeprefix("Value error, ")


def test_a_recorded_birth_date_lies_from_1850_to_the_end_of_2199() -> None:
    assert check(BirthDate, EARLIEST_BIRTH, STORED_CONTEXT) == date(1850, 1, 1)
    assert check(BirthDate, date(2199, 12, 31), STORED_CONTEXT) == date(2199, 12, 31)
    assert message(BirthDate, date(1849, 12, 31), STORED_CONTEXT) == "is not plausible as a date of birth"
    assert message(BirthDate, LATEST.date(), STORED_CONTEXT) == "a date of birth cannot be in the future"


def test_a_birth_date_after_today_is_refused_with_its_reason() -> None:
    assert message(BirthDate, date(2026, 3, 17), NOW) == "a date of birth cannot be in the future"


def test_what_happened_is_refused_in_the_future_with_its_reason() -> None:
    assert message(EventTime, datetime(2026, 3, 15, 9, 36, tzinfo=UTC), NOW) == "cannot be in the future"
    assert message(EventTime, LATEST, STORED_CONTEXT) == "Input should be less than 2200-01-01T00:00:00Z"


def test_the_first_instant_of_1990_is_in_every_range() -> None:
    assert check(RecordedTime, EARLIEST_EVENT, STORED_CONTEXT) == EARLIEST_EVENT
    assert check(EventTime, EARLIEST_EVENT, STORED_CONTEXT) == EARLIEST_EVENT
    assert check(ScheduledDate, EARLIEST_EVENT.date(), STORED_CONTEXT) == date(1990, 1, 1)


def test_a_recorded_visit_on_the_first_day_of_2200_is_refused() -> None:
    assert check(ScheduledDate, date(2199, 12, 31), STORED_CONTEXT) == date(2199, 12, 31)
    assert message(ScheduledDate, LATEST.date(), STORED_CONTEXT) == "Input should be less than 2200-01-01"


def test_without_a_context_the_present_is_the_clock_in_utc() -> None:
    before = datetime.now(UTC)
    now = now_at_edge(None)
    assert now is not None and now.tzinfo is not None and before <= now <= datetime.now(UTC)
    assert now_at_edge(None) is not None


def test_without_a_context_a_birth_date_tomorrow_in_utc_plus_14_is_still_today_somewhere() -> None:
    latest = (datetime.now(UTC) + timedelta(hours=14)).date()
    assert TypeAdapter(BirthDate).validate_python(latest) == latest


@pytest.mark.parametrize(
    ("day", "years", "expected"),
    [
        (date(2026, 3, 31), -5, date(2021, 3, 31)),
        (date(2026, 1, 31), 130, date(2156, 1, 31)),
        (date(2028, 2, 29), -130, date(1898, 2, 28)),
        (date(2026, 2, 28), 1, date(2027, 2, 28)),
    ],
)
def test_years_from_keeps_the_day_and_takes_29_february_to_the_28th(
    day: date, years: int, expected: date
) -> None:
    assert years_from(day, years) == expected
