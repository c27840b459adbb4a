"""The date parameters of the ops routes, parsed and bounded in one place.

Every month (`month`, `from`, `to`: 'YYYY-MM') and every moment (`as_of`, the audit's `since`
and `until`) must fall in the years FIRST_YEAR to LAST_YEAR, as written (a moment's own offset,
not converted first). Outside them the answer is a 422 naming the parameter: a moment such as
9999-12-31T23:59:59-05:00 would otherwise overflow on its way to UTC. The API, its CSV twins, the
dashboard's form and the report CLI all read them through these types and functions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Query
from pydantic import AfterValidator, BeforeValidator

from services.projections.queries.volume import MONTH, parse_month, shift_month

FIRST_YEAR, LAST_YEAR = 1990, 2100
OUT_OF_RANGE = f"must be in the years between {FIRST_YEAR} and {LAST_YEAR}"
MAX_MONTHS = 60


def check_year(year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(OUT_OF_RANGE)


def check_month(value: str | None) -> str | None:
    """'YYYY-MM' in the accepted years, or None for nothing given."""
    if value and not MONTH.fullmatch(value):
        raise ValueError("use a month as YYYY-MM, e.g. 2026-06")
    if value:
        check_year(parse_month(value)[0])
    return value or None


def in_range(moment: datetime) -> datetime:
    """The moment, if its year (as written, in its own offset) is an accepted one."""
    check_year(moment.year)
    return moment


def parse_as_of(text: str) -> datetime:
    """A date (as known at the end of that day, UTC) or an ISO time (UTC unless it says otherwise)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError("use a date (2026-06-30) or a time (2026-06-30T17:00:00Z)") from None
    if ":" not in text:
        moment = moment.replace(hour=23, minute=59, second=59, microsecond=999999)
    return in_range(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def resolve_range(first: str | None, last: str | None) -> tuple[tuple[str, str], dict[str, str]]:
    """The months asked for, defaults filled in (12 months ending this month), and field errors."""
    last = last or datetime.now(UTC).strftime("%Y-%m")
    first = first or shift_month(last, -11)
    (first_year, first_number), (last_year, last_number) = parse_month(first), parse_month(last)
    span = (last_year - first_year) * 12 + last_number - first_number + 1
    if span < 1:
        return (first, last), {"to": "must not be before from"}
    return (first, last), {"to": f"at most {MAX_MONTHS} months from from"} if span > MAX_MONTHS else {}


Month = Annotated[str | None, AfterValidator(check_month)]
"""A month parameter ('YYYY-MM', FIRST_YEAR to LAST_YEAR)."""
Moment = Annotated[datetime, AfterValidator(in_range)]
"""A moment parameter (ISO 8601, FIRST_YEAR to LAST_YEAR as written)."""
AsOf = Annotated[
    Moment | None,
    BeforeValidator(lambda v: parse_as_of(v) if isinstance(v, str) else v),
    Query(description="As known at this moment (recorded by then): a date (end of that day, UTC) or a time."),
]
