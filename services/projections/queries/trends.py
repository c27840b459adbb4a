"""Referrer trends: each referring clinic's (or provider's) month against its own recent baseline.

For a month M and a window of W months (default 6):

- count: referrals received in M; baseline: referrals in the W months before M, divided by W.
- Referrers listed: those with any referral in [M - W, M].
- Status, first rule that holds:
  1. new: no referral before the window, and the first one is in the last 3 months (M - 2 .. M);
  2. lapsed: baseline > 0 and no referral in the last 3 months (M - 2 .. M);
  3. declining: baseline >= 1 and count < 0.6 x baseline;
  4. growing: count > 1.4 x baseline and count - baseline >= 2;
  5. steady: anything else.
  The comparisons are done in whole numbers (count x W against the window's referrals), so a
  value on a boundary never flips with floating point.
- Misses, over the referrals received in [M - W, M], judged at the cutoff = the end of M or
  `as_of` (default now), whichever is earlier:
  - late_reports: the report was due by the cutoff and was not sent by its due time. Feedback's
    own word counts first: a report it recorded late (ReportLate, `report_late`, as known by
    `as_of`) is late even if its times here say otherwise (a return visit moved the due time
    after it went out); without that fact (a report not sent yet, or sent before feedback
    recorded lateness) the times decide;
  - slow_bookings: 14 days after receipt had passed by the cutoff and the first booking
    (scheduled_at, when it was made) came later or not at all; referrals declined or cancelled
    without ever being booked are not counted;
  - no_shows: the no-shows recorded on those referrals.
  With `as_of`, only referrals, bookings, visits and reports recorded by then count.

Sorted: lapsed, declining, new, growing, steady, then by label.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from services.projections.db import Database, Row
from services.projections.models import Dimension, Misses, Trend, TrendStatus
from services.projections.queries.volume import COLUMNS, month_name, parse_month, shift_month
from services.projections.schema import parse_stamp, stamp

RECENT_MONTHS = 3
BOOKING_DAYS = 14
ORDER = [TrendStatus.LAPSED, TrendStatus.DECLINING, TrendStatus.NEW, TrendStatus.GROWING, TrendStatus.STEADY]
FIELDS = (
    "month, received_at, scheduled_at, scheduled_recorded_at, seen_recorded_at, "
    "report_due_at, report_sent_at, report_recorded_at, no_shows, declined_at, cancelled_at, report_late"
)


def trends(
    db: Database, dimension: Dimension, month: str, window_months: int = 6, as_of: datetime | None = None
) -> list[Trend]:
    if dimension not in (Dimension.CLINIC, Dimension.PROVIDER):
        raise ValueError("trends are by referring clinic or provider")
    if window_months < 1:
        raise ValueError("the window is at least one month")
    start = shift_month(month, -window_months)
    rows = _window_rows(db, dimension, start, month, as_of)
    by_key: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_key[row[0]].append(row)
    recent_start = shift_month(month, 1 - RECENT_MONTHS)
    candidates = [k for k, rs in by_key.items() if min(r[2] for r in rs) >= recent_start]
    earlier = _seen_before(db, dimension, start, candidates, as_of)
    cutoff = min(_month_end(month), as_of or datetime.now(UTC))
    found = [_trend(k, rs, month, window_months, k in earlier, cutoff, as_of) for k, rs in by_key.items()]
    return sorted(found, key=lambda t: (ORDER.index(t.status), t.label, t.key))


def _window_rows(
    db: Database, dimension: Dimension, start: str, month: str, as_of: datetime | None
) -> list[Row]:
    key, label = COLUMNS[dimension]
    sql = f"SELECT {key}, {label}, {FIELDS} FROM referral_view WHERE month >= ? AND month <= ?"
    params: list[Any] = [start, month]
    if as_of is not None:
        sql += " AND received_recorded_at <= ?"
        params.append(stamp(as_of))
    return db.query(sql + " ORDER BY received_at", params)


def _seen_before(
    db: Database, dimension: Dimension, start: str, keys: list[str], as_of: datetime | None
) -> set[str]:
    """Which of `keys` (the possibly new referrers) sent a referral before the month `start`."""
    if not keys:
        return set()
    key = COLUMNS[dimension][0]
    sql = f"SELECT DISTINCT {key} FROM referral_view WHERE month < ? AND {key} IN ({', '.join('?' * len(keys))})"
    params: list[Any] = [start, *keys]
    if as_of is not None:
        sql += " AND received_recorded_at <= ?"
        params.append(stamp(as_of))
    return {row[0] for row in db.query(sql, params)}


def _month_end(month: str) -> datetime:
    year, number = parse_month(shift_month(month, 1))
    return datetime(year, number, 1, tzinfo=UTC) - timedelta(microseconds=1)


def _trend(
    key: str,
    rows: list[Row],
    month: str,
    window: int,
    earlier: bool,
    cutoff: datetime,
    as_of: datetime | None,
) -> Trend:
    per_month = Counter(row[2] for row in rows)
    count, before = per_month.get(month, 0), sum(n for m, n in per_month.items() if m < month)
    first, last = min(per_month), max(per_month)
    recent = sum(per_month.get(shift_month(month, -i), 0) for i in range(RECENT_MONTHS))
    new = not earlier and first >= shift_month(month, 1 - RECENT_MONTHS)
    status = classify(count, before, window, recent, new)
    return Trend(
        key=key,
        label=rows[-1][1],
        month=month,
        count=count,
        baseline=round(before / window, 2),
        status=status,
        explanation=explain(status, count, before / window, window, month, first, last),
        misses=_misses(rows, cutoff, as_of),
    )


def classify(count: int, before: int, window: int, recent: int, new: bool) -> TrendStatus:
    """The status from `count` in the month against `before` referrals over the `window` months before."""
    if new:
        return TrendStatus.NEW
    if before > 0 and recent == 0:
        return TrendStatus.LAPSED
    if before >= window and 5 * count * window < 3 * before:
        return TrendStatus.DECLINING
    if 5 * count * window > 7 * before and count * window - before >= 2 * window:
        return TrendStatus.GROWING
    return TrendStatus.STEADY


def explain(
    status: TrendStatus, count: int, baseline: float, window: int, month: str, first: str, last: str
) -> str:
    if status is TrendStatus.NEW:
        return f"first referral in {month_name(first)}"
    if status is TrendStatus.LAPSED:
        return f"no referrals since {month_name(last)} after a {window}-month average of {baseline:.1f}"
    noun = "referral" if count == 1 else "referrals"
    return f"{count} {noun} in {month_name(month)} against a {window}-month average of {baseline:.1f}"


def _misses(rows: list[Row], cutoff: datetime, as_of: datetime | None) -> Misses:
    late = slow = no_shows = 0
    for row in rows:
        values = dict(zip(FIELDS.split(", "), row[2:], strict=True))
        late += _late_report(values, cutoff, as_of)
        slow += _slow_booking(values, cutoff, as_of)
        no_shows += int(values["no_shows"] or 0)
    return Misses(late_reports=late, slow_bookings=slow, no_shows=no_shows)


def _known(values: dict[str, Any], column: str, recorded: str, as_of: datetime | None) -> datetime | None:
    """A milestone's time, if it happened and (with `as_of`) was recorded by then."""
    if values[column] is None or (as_of is not None and values[recorded] > stamp(as_of)):
        return None
    return parse_stamp(values[column])


def _late_report(values: dict[str, Any], cutoff: datetime, as_of: datetime | None) -> bool:
    due = _known(values, "report_due_at", "seen_recorded_at", as_of)
    if due is None or due > cutoff:
        return False
    if _known(values, "report_late", "report_late", as_of) is not None:
        return True
    sent = _known(values, "report_sent_at", "report_recorded_at", as_of)
    return sent is None or sent > due


def _slow_booking(values: dict[str, Any], cutoff: datetime, as_of: datetime | None) -> bool:
    deadline = parse_stamp(values["received_at"]) + timedelta(days=BOOKING_DAYS)
    booked = _known(values, "scheduled_at", "scheduled_recorded_at", as_of)
    if booked is None and (values["declined_at"] or values["cancelled_at"]):
        return False
    return deadline <= cutoff and (booked is None or booked > deadline)
