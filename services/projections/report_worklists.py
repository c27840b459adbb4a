"""`referral-loop report worklists`: the one report that names patients, so it is audited like the
API's worklists: one entry (`read`, or `export` for --csv, on `worklists`, service `report`, who
the OS user) with exactly the referrals it prints, durable before anything is printed (no audit,
no names)."""

from __future__ import annotations

import argparse
from datetime import datetime

from referral_loop.settings import Settings
from referral_loop.web.audit import AuditEvent, AuditLog
from referral_loop.web.operator import ROLE, os_user
from services.projections import csv_export as csv
from services.projections.db import Database
from services.projections.models import WorkItem
from services.projections.queries.worklists import worklists

LISTS = {"to_schedule": "To schedule", "scheduled": "Scheduled", "awaiting_report": "Awaiting report"}
LISTS |= {"overdue": "Report overdue", "closed": "Closed"}
Shown = list[tuple[str, list[WorkItem]]]


def report(settings: Settings, db: Database, args: argparse.Namespace) -> str:
    """The worklists' text, once its audit entry is written (raises if it cannot be)."""
    lists = shown(db, args)
    record(settings, args, lists)
    return text(args, lists)


def shown(db: Database, args: argparse.Namespace) -> Shown:
    """The lists to print (all, or the one --list names), each with its title."""
    found = worklists(db, datetime.now(args.tz), limit=500)
    names = [args.list_name] if args.list_name else list(LISTS)
    return [(LISTS[name], getattr(found, name)) for name in names]


def record(settings: Settings, args: argparse.Namespace, lists: Shown) -> None:
    """The audit entry for what is about to be printed; raises if it cannot be written."""
    ids = tuple(dict.fromkeys(item.referral_id for _, items in lists for item in items))
    action = "export" if args.csv else "read"
    log = AuditLog(settings, "report")
    try:
        log.record(AuditEvent(os_user(), ROLE, action, "worklists", "allowed", ids, "referral-loop report"))
    finally:
        log.close()


def text(args: argparse.Namespace, lists: Shown) -> str:
    if args.csv:
        return csv.to_csv(csv.model_rows(lists[0][1], WorkItem))
    columns = csv.work_columns(args.tz)
    return "\n".join(
        csv.columns_table(f"{what} ({len(items)})", columns, items, False) for what, items in lists
    )
