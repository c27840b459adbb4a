"""The report models as rows: CSV (the API's `?format=csv` and the CLI's `--csv` write the same
text) and the CLI's aligned text tables.

CSV text cells that a spreadsheet would run as a formula (starting with = + - @, a tab or a CR)
get a leading apostrophe: names and clinics come from referral forms.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from services.projections.models import VolumeReport

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    return str(value)


def volume_rows(report: VolumeReport) -> list[list[str]]:
    """One row per key: a column per month, the total, and the same months' total a year earlier."""
    header = ["key", "label", *report.months, "total", "previous_year_total"]
    rows = [
        [
            row.key,
            row.label,
            *(row.months.get(m, 0) for m in report.months),
            row.total,
            row.previous_year_total,
        ]
        for row in report.rows
    ]
    return [header, *([cell(v) for v in row] for row in rows)]


def columns(model: type[BaseModel], prefix: str = "") -> list[str]:
    """The model's fields as column names; a nested model's fields become `outer_inner`."""
    names: list[str] = []
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            names += columns(kind, f"{prefix}{name}_")
        else:
            names.append(prefix + name)
    return names


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in data.items():
        if isinstance(value, dict):
            flat |= flatten(value, f"{prefix}{name}_")
        else:
            flat[prefix + name] = value
    return flat


def model_rows(items: Sequence[BaseModel], model: type[BaseModel]) -> list[list[str]]:
    """A header from the model, then one row per item (times in ISO 8601, UTC)."""
    header = columns(model)
    rows = [flatten(item.model_dump(mode="json")) for item in items]
    return [header, *([cell(row.get(name)) for name in header] for row in rows)]


def to_csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


NUMBER = re.compile(r"-?\d+(\.\d+)?%?|—|")
Column = tuple[str, Callable[[Any], str], str | None]
"""(header, the cell of an item, the attribute summed on the totals line or None)."""


def number(value: float | None, percent: bool = False) -> str:
    return "—" if value is None else f"{value:.1%}" if percent else f"{value:.1f}"


KPIS: list[Column] = [
    ("Month", lambda k: k.month, None),
    ("Referrals", lambda k: str(k.referrals), "referrals"),
    ("Scheduled", lambda k: str(k.scheduled), "scheduled"),
    ("Days to appointment (median)", lambda k: number(k.lead_time_days_median), None),
    ("(p90)", lambda k: number(k.lead_time_days_p90), None),
    ("No-show rate", lambda k: number(k.no_show_rate, True), None),
    ("Reports sent", lambda k: str(k.reports_sent), "reports_sent"),
    ("Days visit to report (median)", lambda k: number(k.visit_to_report_days_median), None),
    ("Report before return visit", lambda k: number(k.reports_before_return_visit_share, True), None),
]
SCORECARDS: list[Column] = [
    ("Office", lambda s: s.label, None),
    ("Referrals", lambda s: str(s.referrals), "referrals"),
    ("Days to appointment (median)", lambda s: number(s.lead_time_days_median), None),
    ("Days visit to report (median)", lambda s: number(s.visit_to_report_days_median), None),
    ("Report before return visit", lambda s: number(s.reports_before_return_visit_share, True), None),
    ("Loop closure (CMS50)", lambda s: number(s.loop_closure_rate, True), None),
]
TRENDS: list[Column] = [
    ("Referrer", lambda t: t.label, None),
    ("Count", lambda t: str(t.count), "count"),
    ("Average before", lambda t: number(t.baseline), None),
    ("Status", lambda t: t.status.value, None),
    ("Why", lambda t: t.explanation, None),
]
CMS50: list[Column] = [
    ("Year", lambda c: str(c.year), None),
    ("Office", lambda c: c.clinic or "all offices", None),
    ("Referred patients", lambda c: str(c.denominator), None),
    ("Report received", lambda c: str(c.numerator), None),
    ("Rate", lambda c: number(c.rate, True), None),
]


def work_columns(tz: ZoneInfo) -> list[Column]:
    def day(moment: datetime | None) -> str:
        return "—" if moment is None else f"{moment.astimezone(tz):%Y-%m-%d %H:%M}"

    return [
        ("Patient", lambda i: i.patient_name, None),
        ("Office", lambda i: i.clinic, None),
        ("Provider", lambda i: i.provider_name, None),
        ("Priority", lambda i: i.priority, None),
        ("Status", lambda i: i.status, None),
        ("Received", lambda i: day(i.received_at), None),
        ("Days waiting", lambda i: f"{i.age_days:.0f}", None),
        ("Report due", lambda i: day(i.report_due_at), None),
    ]


def table(heading: str, header: list[str], rows: list[list[str]], totals: list[str] | None = None) -> str:
    """A heading, then columns padded to width: numbers right-aligned, text left-aligned."""
    body = rows + ([totals] if totals else [])
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    numeric = [i > 0 and all(NUMBER.fullmatch(r[i]) for r in body) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = (c.rjust(w) if n else c.ljust(w) for c, w, n in zip(cells, widths, numeric, strict=True))
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * w for w in widths)
    ending = [rule, line(totals)] if totals else []
    return "\n".join([heading, "", line(header), rule, *(line(r) for r in rows), *ending]) + "\n"


def columns_table(heading: str, columns: list[Column], items: Sequence[Any], totals: bool = True) -> str:
    rows = [[cell(item) for _, cell, _ in columns] for item in items]
    sums = [str(sum(getattr(i, attr) for i in items)) if attr else "" for _, _, attr in columns[1:]]
    return table(heading, [h for h, _, _ in columns], rows, ["Total", *sums] if totals else None)
