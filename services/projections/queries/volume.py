"""Referral volume per key of a dimension, month by month, against the same months a year earlier.

Rows are the keys with referrals in the range, ranked by their total, then label; each row's
label is the one seen in its latest month of the range. Without `as_of` and filters the answer
comes from the `volume_monthly` counters: the keys are ranked by one grouped query over the
range's (dimension, month) index, the month totals are the `total` dimension's counters, and the
per-month counts (range and previous year) are read only for the keys of the page asked for, so
the cost follows the number of keys, not keys x months. Otherwise it is counted from
`referral_view`.

The month helpers and the referral filter here are shared by the other queries.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from services.projections.db import Database
from services.projections.models import Dimension, VolumeFilter, VolumeReport, VolumeRow
from services.projections.schema import stamp

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
MONTH_NAMES = ["January", "February", "March", "April", "May", "June"]
MONTH_NAMES += ["July", "August", "September", "October", "November", "December"]

COLUMNS: dict[Dimension, tuple[str, str]] = {
    Dimension.TOTAL: ("'all'", "'All referrals'"),
    Dimension.CLINIC: ("clinic_key", "clinic"),
    Dimension.PROVIDER: ("provider_npi", "provider_name"),
    Dimension.SPECIALTY: ("specialty", "specialty"),
    Dimension.REASON: ("reason_chapter", "reason_chapter"),
    Dimension.PAYER: ("lower(payer)", "payer"),
    Dimension.PRIORITY: ("priority", "priority"),
}
"""The referral_view expressions of each dimension's key and label (as facts.py counts them)."""

Counts = dict[str, dict[str, int]]
"""key -> month -> referrals."""
Summary = tuple[dict[str, int], dict[str, str], dict[str, int]]
"""Referrals per key over the range, each key's label, referrals per month (all keys)."""
Detail = Callable[[list[str]], Counts]
"""The per-month counts (range and previous year) of the keys of one page."""
MAX_KEYS = 500


def parse_month(month: str) -> tuple[int, int]:
    found = MONTH.match(month)
    if found is None:
        raise ValueError(f"a month is written YYYY-MM, e.g. 2026-10, not {month!r}")
    return int(found.group(1)), int(found.group(2))


def shift_month(month: str, by: int) -> str:
    """The month `by` months after (or before, if negative) `month`."""
    year, number = parse_month(month)
    index = year * 12 + number - 1 + by
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def months_between(first: str, last: str) -> list[str]:
    """Every month from `first` to `last`, inclusive."""
    if parse_month(first) > parse_month(last):
        raise ValueError(f"the first month {first} is after the last month {last}")
    months = [first]
    while months[-1] != last:
        months.append(shift_month(months[-1], 1))
    return months


def month_name(month: str) -> str:
    """'2026-10' -> 'October 2026'."""
    year, number = parse_month(month)
    return f"{MONTH_NAMES[number - 1]} {year}"


def referral_filter(window: VolumeFilter) -> tuple[list[str], list[Any]]:
    """SQL conditions on referral_view (and their parameters) for the window's as-of and filters."""
    clauses: list[str] = []
    params: list[Any] = []
    for clause, value in (
        ("received_recorded_at <= ?", stamp(window.as_of) if window.as_of else None),
        ("clinic_key = ?", window.clinic.strip().lower() if window.clinic else None),
        ("provider_npi = ?", window.provider_npi.strip() if window.provider_npi else None),
        ("specialty = ?", window.specialty.strip().lower() if window.specialty else None),
    ):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    return clauses, params


def volume(
    db: Database,
    dimension: Dimension,
    window: VolumeFilter,
    top: int | None = None,
    offset: int = 0,
    limit: int = 50,
) -> VolumeReport:
    months = months_between(window.first_month, window.last_month)
    previous = [shift_month(m, -12) for m in months]
    if window.as_of is None and not (window.clinic or window.provider_npi or window.specialty):
        summary, detail = _from_counters(db, dimension, months, previous)
    else:
        summary, detail = _from_referrals(db, dimension, months, previous, window)
    key_totals, labels, totals = summary
    ranked = sorted(labels, key=lambda k: (-key_totals[k], labels[k], k))
    kept = ranked if top is None else ranked[: max(top, 0)]
    page = kept[max(offset, 0) : max(offset, 0) + max(limit, 0)]
    counts = detail(page)
    return VolumeReport(
        dimension=dimension,
        months=months,
        rows=[_row(key, labels[key], counts.get(key, {}), months, previous) for key in page],
        totals=totals,
        total_rows=len(kept),
        offset=offset,
        limit=limit,
    )


def _from_counters(
    db: Database, dimension: Dimension, months: list[str], previous: list[str]
) -> tuple[Summary, Detail]:
    """From the monthly counters: keys ranked over the range first, then the months of one page."""
    sql = (
        "SELECT key, label, SUM(count), MAX(month) FROM volume_monthly "
        "WHERE dimension = ? AND month >= ? AND month <= ? GROUP BY key, label"
    )
    key_totals: dict[str, int] = defaultdict(int)
    latest: dict[str, tuple[str, str]] = {}
    for key, label, count, month in db.query(sql, [dimension.value, months[0], months[-1]]):
        key_totals[key] += int(count)
        latest[key] = max(latest.get(key, (month, label)), (month, label))
    sql = "SELECT month, count FROM volume_monthly WHERE dimension = 'total' AND month >= ? AND month <= ?"
    totals = dict.fromkeys(months, 0) | {m: int(n) for m, n in db.query(sql, [months[0], months[-1]])}
    labels = {key: label for key, (_, label) in latest.items()}
    return (key_totals, labels, totals), lambda keys: _counter_months(db, dimension, keys, months + previous)


def _counter_months(db: Database, dimension: Dimension, keys: list[str], months: list[str]) -> Counts:
    """The counters of `keys` in `months` (by the primary key's index when the keys are few)."""
    if not keys:
        return {}
    wanted = sorted(set(months))
    sql = f"SELECT month, key, count FROM volume_monthly WHERE dimension = ? AND month IN ({_marks(wanted)})"
    params: list[Any] = [dimension.value, *wanted]
    if len(keys) <= MAX_KEYS:
        sql += f" AND key IN ({_marks(keys)})"
        params += keys
    counts: Counts = defaultdict(dict)
    for month, key, count in db.query(sql, params):
        counts[key][month] = int(count)
    return counts


def _from_referrals(
    db: Database, dimension: Dimension, months: list[str], previous: list[str], window: VolumeFilter
) -> tuple[Summary, Detail]:
    """Counted from referral_view, as known at `as_of` and within the window's filters."""
    key, label = COLUMNS[dimension]
    clauses, params = referral_filter(window)
    wanted = sorted(set(months) | set(previous))
    where = " AND ".join([f"month IN ({_marks(wanted)})", *clauses])
    sql = f"SELECT month, {key}, {label}, COUNT(*) FROM referral_view WHERE {where} GROUP BY 1, 2, 3"
    counts: Counts = defaultdict(dict)
    latest: dict[str, tuple[str, str]] = {}
    current = set(months)
    for month, k, name, count in db.query(sql, [*wanted, *params]):
        counts[k][month] = counts[k].get(month, 0) + int(count)
        if month in current:
            latest[k] = max(latest.get(k, (month, name)), (month, name))
    key_totals = {k: sum(counts[k].get(m, 0) for m in months) for k in latest}
    totals = {m: sum(c.get(m, 0) for c in counts.values()) for m in months}
    labels = {k: name for k, (_, name) in latest.items()}
    return (key_totals, labels, totals), lambda keys: counts


def _marks(values: list[str]) -> str:
    return ", ".join("?" * len(values))


def _row(key: str, label: str, counts: dict[str, int], months: list[str], previous: list[str]) -> VolumeRow:
    current = {m: counts.get(m, 0) for m in months}
    earlier = {m: counts.get(m, 0) for m in previous}
    return VolumeRow(
        key=key,
        label=label,
        months=current,
        total=sum(current.values()),
        previous_year=earlier,
        previous_year_total=sum(earlier.values()),
    )
