"""`referral-loop report ...`: the read models' reports as aligned text tables, or CSV with --csv.

Reads the views database directly (no server needed); the CSV is the API's `?format=csv` text.
Worklists name patients: that report is audited (report_worklists.py).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from referral_loop.settings import Settings
from services.projections import csv_export as csv
from services.projections import quarantine, report_worklists, schema
from services.projections.api import MAX_MONTHS, check_month, parse_as_of, resolve_range
from services.projections.db import Database
from services.projections.models import Cms50, Dimension, Kpis, Scorecard, Trend, VolumeFilter
from services.projections.queries.kpis import cms50, kpis, scorecards
from services.projections.queries.trends import trends
from services.projections.queries.volume import volume
from services.projections.report_worklists import LISTS


def main(settings: Settings, argv: list[str]) -> int:
    """Print one report; 0 when printed, 2 for a bad command line (the message is on stderr)."""
    try:
        args = parse(argv)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 2
    args.tz = ZoneInfo(settings.practice_timezone)
    db = Database(settings, settings.views_sqlite_file)
    try:
        schema.create(db)
        named = args.report == "worklists"  # patients' names: audited first (report_worklists.py)
        sys.stdout.write(
            report_worklists.report(settings, db, args) if named else REPORTS[args.report](db, args)
        )
    finally:
        db.close()
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="referral-loop report", description=__doc__)
    sub = root.add_subparsers(dest="report", required=True)
    volume_arguments(window_arguments(sub.add_parser("volume", help="referrals per month by one dimension")))
    trend_arguments(sub.add_parser("trends", help="each referrer's month against its average: declining..."))
    work = sub.add_parser("worklists", help="open referrals by what they wait for (patient names)")
    work.add_argument(
        "--list", dest="list_name", choices=list(LISTS), help="only this list (needed with --csv)"
    )
    window_arguments(sub.add_parser("kpis", help="loop KPIs per month referred"))
    window_arguments(sub.add_parser("scorecards", help="each referring office's scorecard"))
    cms = sub.add_parser("cms50", help="CMS50 loop closure for a year")
    cms.add_argument("--year", type=int, help="default: this year")
    cms.add_argument("--clinic", help="only this referring office (its key)")
    sub.add_parser("quarantine", help="the facts the projector set aside (could not read or apply)")
    for name, one in sub.choices.items():
        if name not in ("worklists", "quarantine"):
            one.add_argument("--as-of", metavar="DATE", type=moment, help="as known then: a date or ISO time")
        one.add_argument("--csv", action="store_true", help="print CSV (the API's format=csv)")
    return root


def volume_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--by", choices=[d.value for d in Dimension], default="clinic")
    command.add_argument("--top", type=int, help="only the N largest by total")
    command.add_argument("--offset", type=int, default=0, help="skip this many rows")
    command.add_argument("--limit", type=int, default=500, help="at most this many rows (1 to 500)")


def trend_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--by", choices=["clinic", "provider"], default="clinic")
    command.add_argument(
        "--month", metavar="YYYY-MM", type=month, help="the month looked at (default: this one)"
    )
    command.add_argument("--window", type=int, default=6, help="months of the average before it (default 6)")


def window_arguments(command: argparse.ArgumentParser) -> argparse.ArgumentParser:
    command.add_argument("--from", dest="first", metavar="YYYY-MM", type=month, help="default: 11 months ago")
    command.add_argument("--to", dest="last", metavar="YYYY-MM", type=month, help="default: this month")
    command.add_argument("--clinic", help="only this referring office (its key)")
    return command


def month(text: str) -> str:
    try:
        return check_month(text) or text
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def moment(text: str) -> datetime:
    try:
        return parse_as_of(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse(argv: list[str]) -> argparse.Namespace:
    root = parser()
    args = root.parse_args(argv)
    if args.report in ("volume", "kpis", "scorecards"):
        (args.first, args.last), errors = resolve_range(args.first, args.last)
        for field, message in errors.items():
            root.error(f"--{field}: {message}")
    if args.report == "volume" and not (args.offset >= 0 and 1 <= args.limit <= 500 and (args.top or 1) >= 1):
        root.error("--offset must be 0 or more, --limit 1 to 500, --top 1 or more")
    if args.report == "trends" and not 1 <= args.window <= MAX_MONTHS:
        root.error(f"--window: 1 to {MAX_MONTHS} months")
    if args.report == "worklists" and args.csv and not args.list_name:
        root.error("--csv needs --list (one CSV per list)")
    return args


def span(args: argparse.Namespace) -> VolumeFilter:
    return VolumeFilter(first_month=args.first, last_month=args.last, clinic=args.clinic, as_of=args.as_of)


def title(args: argparse.Namespace, what: str) -> str:
    known = f", as known on {args.as_of.astimezone(args.tz):%Y-%m-%d %H:%M %Z}" if args.as_of else ""
    office = f", office {args.clinic}" if getattr(args, "clinic", None) else ""
    return f"{what}{office}{known}"


def as_csv(items: Sequence[BaseModel], model: type[BaseModel]) -> str:
    return csv.to_csv(csv.model_rows(items, model))


def volume_report(db: Database, args: argparse.Namespace) -> str:
    report = volume(db, Dimension(args.by), span(args), top=args.top, offset=args.offset, limit=args.limit)
    if args.csv:
        return csv.to_csv(csv.volume_rows(report))
    months, rows = report.months, report.rows
    body = [
        [r.label, *(str(r.months[m]) for m in months), str(r.total), str(r.previous_year_total)] for r in rows
    ]
    every = len(rows) == report.total_rows and args.top is None
    before = str(sum(r.previous_year_total for r in rows)) if every else ""
    totals = ["Total", *(str(report.totals[m]) for m in months), str(sum(report.totals.values())), before]
    heading = title(args, f"Referral volume by {args.by}, {args.first} to {args.last}")
    text = csv.table(heading, [args.by.title(), *months, "Total", "Year before"], body, totals)
    top = f" (the top {args.top})" if args.top else ""
    shown = f"Rows {args.offset + 1} to {args.offset + len(rows)} of {report.total_rows}{top}; the totals count all.\n"
    return text if every else text + shown


def trends_report(db: Database, args: argparse.Namespace) -> str:
    chosen = args.month or datetime.now(UTC).strftime("%Y-%m")
    found = trends(db, Dimension(args.by), chosen, window_months=args.window, as_of=args.as_of)
    if args.csv:
        return as_csv(found, Trend)
    what = f"Referrers by {args.by}, {chosen} against the {args.window} months before"
    return csv.columns_table(title(args, what), csv.TRENDS, found)


def kpis_report(db: Database, args: argparse.Namespace) -> str:
    found = kpis(db, span(args))
    if args.csv:
        return as_csv(found, Kpis)
    return csv.columns_table(
        title(args, f"Loop KPIs by month referred, {args.first} to {args.last}"), csv.KPIS, found
    )


def scorecards_report(db: Database, args: argparse.Namespace) -> str:
    found = scorecards(db, span(args))
    if args.csv:
        return as_csv(found, Scorecard)
    return csv.columns_table(
        title(args, f"Office scorecards, {args.first} to {args.last}"), csv.SCORECARDS, found
    )


def cms50_report(db: Database, args: argparse.Namespace) -> str:
    year = args.year or datetime.now(UTC).year
    found = cms50(db, year, clinic=args.clinic, as_of=args.as_of)
    if args.csv:
        return as_csv([found], Cms50)
    return csv.columns_table(
        title(args, f"CMS50 closing the referral loop, {year}"), csv.CMS50, [found], False
    )


REPORTS: dict[str, Callable[[Database, argparse.Namespace], str]] = {
    "volume": volume_report,
    "trends": trends_report,
    "kpis": kpis_report,
    "scorecards": scorecards_report,
    "cms50": cms50_report,
    "quarantine": lambda db, args: quarantine.report(db, args.csv),
}
