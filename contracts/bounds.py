"""The ranges every date and time in the contracts falls in.

Two kinds of bound:
- **Absolute**, for every fact, new or recorded: each value stays far from the ends of Python's
  and the databases' calendars, so no follower's arithmetic (deadlines, months, time zones) can
  overflow on it.
- **Relative to the present**, at the edge only, when a fact is made: a fact a store recorded is
  validated with `STORED_CONTEXT` and checked against the absolute bounds alone, so what was
  valid when it was recorded replays the same years later.

The absolute bounds of times and days are constraints (`IN_RANGE`, `DAYS_IN_RANGE`), checked by
pydantic-core without a call into Python: every stored fact pays them. The relative ones are
validators that return at once for a recorded fact. The present comes from the validation
context's `now` (tests inject it), else the clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from annotated_types import Ge, Lt
from pydantic import ValidationInfo

from contracts.forgetting import validating_stored

EARLIEST_EVENT: Final = datetime(1990, 1, 1, tzinfo=UTC)
"""Nothing a referral's lifecycle records happened before this: received, booked, seen."""
LATEST: Final = datetime(2200, 1, 1, tzinfo=UTC)
"""Every date and time is before this (far from year 9999, where arithmetic overflows)."""
EARLIEST_BIRTH: Final = date(1850, 1, 1)
"""No recorded birth date is older (the edge asks for much less: MAX_AGE_YEARS)."""
CLOCK_SKEW: Final = timedelta(minutes=5)
"""How far in the future a time of something that already happened may be: clocks differ."""
SCHEDULE_YEARS: Final = 5
"""Appointments, return visits and requested-by dates lie within this many years of now."""
MAX_AGE_YEARS: Final = 130
IN_RANGE: Final = (Ge(EARLIEST_EVENT), Lt(LATEST))
"""Every time a fact carries: from 1990 to the end of 2199."""
DAYS_IN_RANGE: Final = (Ge(EARLIEST_EVENT.date()), Lt(LATEST.date()))
"""Every day a fact carries but a birth date: from 1990 to the end of 2199."""
EARLIEST_ZONE: Final = timedelta(hours=14)
"""The earliest time zone (UTC+14) is this far ahead: a birth date of 'today' there is valid."""


def now_at_edge(info: ValidationInfo | None) -> datetime | None:
    """The present for relative bounds; None when validating a recorded fact (absolute only)."""
    context: Any = info.context if info is not None else None
    if validating_stored(context):
        return None
    now = context.get("now") if isinstance(context, dict) else None
    return now if isinstance(now, datetime) else datetime.now(UTC)


def years_from(day: date, years: int) -> date:
    """The same day `years` later (or earlier); 29 February falls on the 28th."""
    target = day.year + years
    return day.replace(year=target, day=min(day.day, 28)) if day.month == 2 else day.replace(year=target)


def check_event_time(value: datetime, info: ValidationInfo) -> datetime:
    """When something already happened (received, occurred): never in the future (at the edge)."""
    now = now_at_edge(info)
    if now is not None and value > now + CLOCK_SKEW:
        raise ValueError("cannot be in the future")
    return value


def check_schedule_time(value: datetime, info: ValidationInfo) -> datetime:
    """An appointment's time: within SCHEDULE_YEARS years of now (at the edge)."""
    check_schedule_date(value.date(), info)
    return value


def check_schedule_date(value: date, info: ValidationInfo) -> date:
    """A visit's or a requested-by day: within SCHEDULE_YEARS years of now (at the edge)."""
    now = now_at_edge(info)
    if now is not None:
        today = now.date()
        if not years_from(today, -SCHEDULE_YEARS) <= value <= years_from(today, SCHEDULE_YEARS):
            raise ValueError(f"must lie within {SCHEDULE_YEARS} years of today")
    return value


def check_birth_day(value: date, info: ValidationInfo) -> date:
    """A date of birth: not in the future (in any time zone), at most MAX_AGE_YEARS years ago."""
    if value < EARLIEST_BIRTH:
        raise ValueError("is not plausible as a date of birth")
    if value >= LATEST.date():
        raise ValueError("a date of birth cannot be in the future")
    now = now_at_edge(info)
    if now is None:
        return value
    if value > (now + EARLIEST_ZONE).date():
        raise ValueError("a date of birth cannot be in the future")
    if value < years_from(now.date(), -MAX_AGE_YEARS):
        raise ValueError(f"a date of birth more than {MAX_AGE_YEARS} years ago is not plausible")
    return value
