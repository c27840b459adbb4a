"""Loop KPIs per month, scorecards per referring office, and CMS50 (MIPS 374) loop closure.

Months are the referrals' received months (UTC). With `as_of`, a referral counts only if it was
recorded by then, and a booking, visit or report only if its own `*_recorded_at` is by then.

- lead time: days from receipt to the first booking (scheduled_at, when it was made);
  median, and p90 by nearest rank (the ceil(0.9 n)-th smallest);
- no-show rate: booked referrals with at least one no-show / booked referrals;
- visit to report: days from the visit (seen_at) to the report (report_sent_at), median;
- report before the return visit: of the reports sent for referrals with a known return visit,
  the share sent before 00:00 UTC of the return visit's day.

CMS50 for a year: the denominator is the distinct patients whose first referral of the year was
received 1 January - 31 October (UTC). "First" is per patient across the practice, or per
patient and referring clinic when a clinic is given (the measure scores the referring office).
The numerator is those of them whose first referral's report was sent after it was received and
before the year ended; later referrals of the same patient never count.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from services.projections.db import Database
from services.projections.models import Cms50, Kpis, Scorecard, VolumeFilter
from services.projections.queries.volume import months_between, parse_month, referral_filter
from services.projections.schema import parse_stamp, stamp

FIELDS = (
    "referral_id, patient_key, clinic_key, clinic, month, received_at, scheduled_at, scheduled_recorded_at, "
    "no_shows, seen_at, seen_recorded_at, return_visit_on, report_sent_at, report_recorded_at"
)


@dataclass(frozen=True)
class Loop:
    """One referral's loop as known at the query's as-of moment."""

    referral_id: str
    patient_key: str
    clinic_key: str
    clinic: str
    month: str
    received: datetime
    scheduled: datetime | None
    no_shows: int
    seen: datetime | None
    return_visit_on: date | None
    report: datetime | None


def kpis(db: Database, window: VolumeFilter) -> list[Kpis]:
    months = months_between(window.first_month, window.last_month)
    by_month: dict[str, list[Loop]] = defaultdict(list)
    for loop in _loops(db, window):
        by_month[loop.month].append(loop)
    return [_kpis(month, window.clinic, by_month[month]) for month in months]


def scorecards(db: Database, window: VolumeFilter) -> list[Scorecard]:
    months_between(window.first_month, window.last_month)  # refuses a malformed or reversed window
    by_clinic: dict[str, list[Loop]] = defaultdict(list)
    for loop in _loops(db, window):
        by_clinic[loop.clinic_key].append(loop)
    year = parse_month(window.last_month)[0]
    year_loops = _year_loops(db, year, None, window.as_of)
    cards = [_scorecard(key, loops, year, year_loops) for key, loops in by_clinic.items()]
    return sorted(cards, key=lambda c: (-c.referrals, c.label, c.clinic))


def cms50(db: Database, year: int, clinic: str | None = None, as_of: datetime | None = None) -> Cms50:
    key = clinic.strip().lower() if clinic else None
    denominator, numerator = _closure(_year_loops(db, year, key, as_of), year)
    return Cms50(
        year=year,
        clinic=key,
        denominator=denominator,
        numerator=numerator,
        rate=_ratio(numerator, denominator),
        as_of=as_of.date() if as_of else None,
    )


def _kpis(month: str, clinic: str | None, loops: list[Loop]) -> Kpis:
    booked = [loop for loop in loops if loop.scheduled is not None]
    leads = _lead_days(loops)
    return Kpis(
        month=month,
        clinic=clinic.strip().lower() if clinic else None,
        referrals=len(loops),
        scheduled=len(booked),
        lead_time_days_median=_median(leads),
        lead_time_days_p90=_p90(leads),
        no_show_rate=_ratio(sum(1 for loop in booked if loop.no_shows > 0), len(booked)),
        reports_sent=sum(1 for loop in loops if loop.report is not None),
        visit_to_report_days_median=_median(_report_days(loops)),
        reports_before_return_visit_share=_before_return_share(loops),
    )


def _scorecard(key: str, loops: list[Loop], year: int, year_loops: list[Loop]) -> Scorecard:
    latest = max(loops, key=lambda loop: (loop.received, loop.referral_id))
    denominator, numerator = _closure([loop for loop in year_loops if loop.clinic_key == key], year)
    return Scorecard(
        clinic=key,
        label=latest.clinic,
        referrals=len(loops),
        lead_time_days_median=_median(_lead_days(loops)),
        visit_to_report_days_median=_median(_report_days(loops)),
        reports_before_return_visit_share=_before_return_share(loops),
        loop_closure_rate=_ratio(numerator, denominator),
    )


def _closure(loops: list[Loop], year: int) -> tuple[int, int]:
    """CMS50 (denominator, numerator) over one year's referrals."""
    first: dict[str, Loop] = {}
    for loop in sorted(loops, key=lambda loop: (loop.received, loop.referral_id)):
        first.setdefault(loop.patient_key, loop)
    year_end, november = datetime(year + 1, 1, 1, tzinfo=UTC), datetime(year, 11, 1, tzinfo=UTC)
    counted = [loop for loop in first.values() if loop.received < november]
    closed = [c for c in counted if c.report is not None and c.received < c.report < year_end]
    return len(counted), len(closed)


def _loops(db: Database, window: VolumeFilter) -> list[Loop]:
    clauses, params = referral_filter(window)
    where = " AND ".join(["month >= ?", "month <= ?", *clauses])
    sql = f"SELECT {FIELDS} FROM referral_view WHERE {where}"
    rows = db.query(sql, [window.first_month, window.last_month, *params])
    return [_loop(row, window.as_of) for row in rows]


def _year_loops(db: Database, year: int, clinic: str | None, as_of: datetime | None) -> list[Loop]:
    window = VolumeFilter(
        first_month=f"{year:04d}-01", last_month=f"{year:04d}-12", clinic=clinic, as_of=as_of
    )
    return _loops(db, window)


def _loop(row: tuple[Any, ...], as_of: datetime | None) -> Loop:
    v = dict(zip(FIELDS.split(", "), row, strict=True))
    known = stamp(as_of) if as_of else None

    def moment(column: str, recorded: str) -> datetime | None:
        if v[column] is None or (known is not None and v[recorded] > known):
            return None
        return parse_stamp(v[column])

    return Loop(
        referral_id=v["referral_id"],
        patient_key=v["patient_key"],
        clinic_key=v["clinic_key"],
        clinic=v["clinic"],
        month=v["month"],
        received=parse_stamp(v["received_at"]),
        scheduled=moment("scheduled_at", "scheduled_recorded_at"),
        no_shows=int(v["no_shows"] or 0),
        seen=moment("seen_at", "seen_recorded_at"),
        return_visit_on=date.fromisoformat(v["return_visit_on"]) if v["return_visit_on"] else None,
        report=moment("report_sent_at", "report_recorded_at"),
    )


def _days(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 86400


def _lead_days(loops: list[Loop]) -> list[float]:
    return [_days(loop.received, loop.scheduled) for loop in loops if loop.scheduled is not None]


def _report_days(loops: list[Loop]) -> list[float]:
    return [
        _days(loop.seen, loop.report) for loop in loops if loop.seen is not None and loop.report is not None
    ]


def _before_return_share(loops: list[Loop]) -> float | None:
    pairs = [(loop.report, loop.return_visit_on) for loop in loops if loop.report and loop.return_visit_on]
    in_time = sum(1 for report, visit in pairs if report < datetime.combine(visit, time(0), UTC))
    return _ratio(in_time, len(pairs))


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _p90(values: list[float]) -> float | None:
    """Nearest rank: the ceil(0.9 n)-th smallest value."""
    if not values:
        return None
    return round(sorted(values)[math.ceil(0.9 * len(values)) - 1], 1)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
