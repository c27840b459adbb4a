"""Intake staff's worklists: every open referral in exactly one list, by where it stands now.

- to_schedule: received, accepted, or no-show (it needs rebooking);
- scheduled: an appointment is booked;
- awaiting_report: seen, report not due yet (or no due time known);
- overdue: seen, report due at or before `now`;
- closed: the report went out (most recent report first).

Open lists put the referral waiting longest first (oldest received_at). Each list holds at most
`limit` items. Declined and cancelled referrals are in none.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.projections.db import Database, Row
from services.projections.models import WorkItem, Worklists
from services.projections.schema import parse_stamp, stamp

FIELDS = [
    "referral_id",
    "patient_name",
    "clinic",
    "provider_name",
    "specialty",
    "priority",
    "status",
    "received_at",
    "appointment_at",
    "seen_at",
    "report_due_at",
    "report_sent_at",
]
NAME = FIELDS.index("patient_name")
TIMES = {"received_at", "appointment_at", "seen_at", "report_due_at", "report_sent_at"}
OLDEST_FIRST = "received_at, referral_id"

LISTS: dict[str, tuple[str, str, bool]] = {
    "to_schedule": ("status IN ('received', 'accepted', 'no_show')", OLDEST_FIRST, False),
    "scheduled": ("status = 'scheduled'", OLDEST_FIRST, False),
    "awaiting_report": (
        "status = 'seen' AND (report_due_at IS NULL OR report_due_at > ?)",
        OLDEST_FIRST,
        True,
    ),
    "overdue": ("status = 'seen' AND report_due_at <= ?", OLDEST_FIRST, True),
    "closed": ("status = 'closed'", "report_sent_at DESC, referral_id", False),
}
"""list name -> (condition, order, whether the condition takes `now`)."""


def worklists(db: Database, now: datetime, limit: int = 200) -> Worklists:
    lists = {name: _list(db, spec, now, limit) for name, spec in LISTS.items()}
    return Worklists(**lists)


def _list(db: Database, spec: tuple[str, str, bool], now: datetime, limit: int) -> list[WorkItem]:
    condition, order, takes_now = spec
    sql = f"SELECT {', '.join(FIELDS)} FROM referral_view WHERE {condition} ORDER BY {order} LIMIT ?"
    params: list[Any] = [stamp(now)] if takes_now else []
    return [_item(row, now, db) for row in db.query(sql, [*params, max(limit, 0)])]


def _item(row: Row, now: datetime, db: Database) -> WorkItem:
    values = {
        name: parse_stamp(value) if name in TIMES and value is not None else value
        for name, value in zip(FIELDS, row, strict=True)
    }
    values["patient_name"] = db.sealer.open(row[NAME])
    age = (now - values["received_at"]).total_seconds() / 86400
    return WorkItem(**values, age_days=round(age, 1))
