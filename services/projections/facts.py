"""How each referral fact changes the read models: one small function per fact type."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from contracts import Fact
from contracts.events import (
    AppointmentScheduled,
    PatientForgotten,
    PatientSeen,
    ReferralReceived,
    ReportDueSoon,
    ReturnVisitScheduled,
)
from contracts.forgetting import FORGOTTEN
from referral_loop.domain.deadlines import DeadlinePolicy
from referral_loop.domain.lifecycle import STATUS_AFTER
from referral_loop.store.follower import Recorded
from services.projections.db import Cursor
from services.projections.received_row import dimensions, referral_row
from services.projections.rows import Rows
from services.projections.schema import parse_stamp, stamp

Volume = Counter[tuple[str, str, str, str]]
"""(month, dimension, key, label) -> referrals to add."""
READ = ("scheduled_at", "scheduled_recorded_at", "return_visit_on", "seen_at", "no_shows")
"""The columns of a stored row the handlers consult (`Apply.row`)."""


class Apply:
    """Applies a page's facts inside one transaction: the rows it touches are read once and
    written once (`rows.Rows`); volume counts are summed and written once per page."""

    def __init__(self, cursor: Cursor, tables: dict[str, str], deadlines: DeadlinePolicy) -> None:
        self.cursor, self.t, self.deadlines = cursor, tables, deadlines
        self.rows = Rows(cursor, tables["referral_view"], READ)
        self.volume: Volume = Counter()

        self.referral_id = self.recorded = ""
        """The referral of the fact being applied, and when the store learned that fact (a stamp)."""
        self.patient_key_id: str | None = None
        """The id of the data key the store sealed that fact's patient details under, if any."""

    def page(self, facts: Iterable[Recorded]) -> None:
        """Apply these facts in order, then write what they changed."""
        keyed = [(str(r.fact.referral_id), r) for r in facts]
        self.rows.load(referral_id for referral_id, _ in keyed)
        for referral_id, recorded in keyed:
            self.fact(referral_id, recorded.fact, recorded.patient_key_id)
        self.flush()

    def fact(self, referral_id: str, fact: Fact, patient_key_id: str | None = None) -> None:
        self.referral_id, self.recorded = referral_id, stamp(fact.recorded_at)
        self.patient_key_id = patient_key_id
        handler = HANDLERS.get(fact.type)
        if handler is not None:
            handler(self, fact)
        new_status = STATUS_AFTER.get(fact.type)
        if new_status is not None and fact.type != "ReferralReceived":
            self.update(status=new_status.value)

    def update(self, **values: Any) -> None:
        """Set these columns of the current referral's row, and its `updated_at`."""
        values["updated_at"] = self.recorded
        self.rows.change(self.referral_id, values)

    def row(self, *columns: str) -> tuple[Any, ...] | None:
        """These columns of the current referral's row; None when the view does not have it."""
        found = self.rows.get(self.referral_id)
        return tuple(found[c] for c in columns) if found is not None else None

    def flush(self) -> None:
        self.rows.flush()
        sql = (
            f"INSERT INTO {self.t['volume_monthly']} (month, dimension, key, label, count) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (dimension, key, month) DO UPDATE SET count = "
            f"{self.t['volume_monthly']}.count + excluded.count"
        )
        self.cursor.executemany(sql, [(*k, n) for k, n in sorted(self.volume.items())])
        self.volume.clear()


def received(apply: Apply, fact: Fact) -> None:
    assert isinstance(fact, ReferralReceived)
    row = referral_row(fact, apply.referral_id, apply.recorded, apply.patient_key_id)
    if apply.rows.insert(row):
        for dimension, key, label in dimensions(row):
            apply.volume[(row["month"], dimension, key, label)] += 1


def scheduled(apply: Apply, fact: Fact) -> None:
    assert isinstance(fact, AppointmentScheduled)
    first = apply.row("scheduled_at", "scheduled_recorded_at") or (None, None)
    apply.update(
        scheduled_at=first[0] or stamp(fact.occurred_at),
        scheduled_recorded_at=first[1] or apply.recorded,
        appointment_at=stamp(fact.data.appointment_at),
    )


def seen(apply: Apply, fact: Fact) -> None:
    assert isinstance(fact, PatientSeen)
    visit = apply.row("return_visit_on")
    return_visit = date.fromisoformat(visit[0]) if visit and visit[0] else None
    due = apply.deadlines.report_due(fact.occurred_at, return_visit)
    apply.update(
        seen_at=stamp(fact.occurred_at),
        seen_recorded_at=apply.recorded,
        report_due_at=stamp(due),
    )


def return_visit(apply: Apply, fact: Fact) -> None:
    assert isinstance(fact, ReturnVisitScheduled)
    values: dict[str, Any] = {"return_visit_on": fact.data.return_visit_on.isoformat()}
    row = apply.row("seen_at")
    if row and row[0]:
        values["report_due_at"] = stamp(
            apply.deadlines.report_due(parse_stamp(row[0]), fact.data.return_visit_on)
        )
    apply.update(**values)


def report_sent(apply: Apply, fact: Fact) -> None:
    apply.update(report_sent_at=stamp(fact.occurred_at), report_recorded_at=apply.recorded)


def report_late(apply: Apply, fact: Fact) -> None:
    """Feedback's word that the report went out after its due time: the late-report KPI counts
    it (`queries/trends.py`), as known from when the store recorded it."""
    apply.update(report_late=apply.recorded)


def deadline(column: str) -> Callable[[Apply, Fact], None]:
    def handler(apply: Apply, fact: Fact) -> None:
        assert isinstance(fact, ReportDueSoon) or fact.type == "ReportOverdue"
        due: datetime = fact.data.due_at
        apply.update(**{column: stamp(fact.occurred_at), "report_due_at": stamp(due)})

    return handler


def moment(column: str) -> Callable[[Apply, Fact], None]:
    def handler(apply: Apply, fact: Fact) -> None:
        apply.update(**{column: stamp(fact.occurred_at)})

    return handler


def no_show(apply: Apply, fact: Fact) -> None:
    (count,) = apply.row("no_shows") or (None,)
    if count is not None:
        apply.rows.change(apply.referral_id, {"no_shows": count + 1})


def forgotten(apply: Apply, fact: Fact) -> None:
    """The patient's name gives way to the placeholder (sealed when written, as names are);
    counts, status and times stay as they were."""
    assert isinstance(fact, PatientForgotten)
    apply.rows.change(apply.referral_id, {"patient_name": FORGOTTEN})


HANDLERS: dict[str, Callable[[Apply, Fact], None]] = {
    "ReferralReceived": received,
    "ReferralAccepted": moment("accepted_at"),
    "ReferralDeclined": moment("declined_at"),
    "ReferralCancelled": moment("cancelled_at"),
    "AppointmentScheduled": scheduled,
    "PatientNoShow": no_show,
    "PatientSeen": seen,
    "ReturnVisitScheduled": return_visit,
    "ReportSent": report_sent,
    "ReportDueSoon": deadline("due_soon_at"),
    "ReportOverdue": deadline("overdue_at"),
    "ReportLate": report_late,
    "PatientForgotten": forgotten,
}
APPLIED = frozenset(HANDLERS) | frozenset(STATUS_AFTER)
"""The fact types that change the read models; the others (acknowledgements, thank-you notes,
failed feedback) change nothing in them."""
