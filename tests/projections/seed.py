"""A seeded referral history, January 2025 to October 2026, and the answers the queries must give.

Five referring offices, each with its own provider, specialty, first diagnosis, payer and priority:

| office | 2025 per month | 2026 per month | story |
| --- | --- | --- | --- |
| A Harbor (Dr. Hopper; Dr. Turing in 2025-03 and 2025-06) | 2 | 2 (Mar 3) | steady |
| B Lakeside | 1 | 2 Jan-Jun, then none | lapses |
| C Northside | 1,0,0,1,1,0,1,1,1,0,1,1 | 1,0,1,1,1,1,1,1,1,4 | grows in October |
| D Valley | 3 | 3, October 1 | declines in October |
| E Summit (no report email) | - | September 1, October 2 | new |

In a month, referrals come in the order A (Hopper, Turing), B, C, D, E, the i-th (from 0) on
day 2 + 3i at 10:00 UTC. Every fact is recorded one hour after it happened, except where a story
says otherwise. Unless a story says otherwise a referral closes its loop quickly: booked 3 days
after receipt, seen after 10 days, report a day later, no return visit known.

The stories (names in `SeededHistory.ids`):
- late: A's third March 2026 referral happened on 8 March, recorded only on 4 May 2026, booked on
  5 May (a 58-day lead), seen 12 May, reported 13 May.
- booking keyed late: D's first April 2026 referral (17 April) was booked on 20 April, but the
  booking was recorded only on 10 May; seen 12 May, reported 13 May.
- May 2026 (the KPI month): A1 lead 2, report a day after the visit and before the return visit;
  A2 lead 4, report 3 days after the visit, after the return visit (late); B1 lead 6, report in
  2 days, before the return visit; B2 lead 8, a no-show, rebooked, report 5 days after the visit
  (late); C1 lead 10, seen 1 June, never reported (overdue); D1 lead 12, report in 3 days;
  D2 lead 20 (a slow booking), report in 6 days, before the return visit; D3 cancelled.
- October 2026: A1 closed; A2 booked (appointment in November); D1 booked, no-show; C1 closed;
  C2 seen, return visit 20 November; C3 received; E1 declined; E2 accepted; C4 received.
- CMS50 2025: Rita is referred by D in February (declined) and again in August; Sam by A (Dr.
  Turing) in March and by C in May; B's October referral arrives on 31 October 23:30 and its
  November one on 1 November 00:00; D's first October referral is reported on 8 January 2026.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from contracts import Fact
from contracts.events import Delivery, MissedAppointment, PatientNoShow, ReportSent
from referral_loop.store.follower import Recorded
from tests.support import referrals as make

LAG = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Office:
    code: str
    clinic: dict[str, Any]
    provider: dict[str, str]
    specialty: str
    codes: list[str]
    payer: str | None
    priority: str

    @property
    def key(self) -> str:
        return str(self.clinic.get("report_email") or self.clinic["name"]).lower()


HARBOR = {"name": "Harbor Family Medicine", "report_email": "reports@harbor.example"}
A1 = Office(
    "A1",
    HARBOR,
    {"name": "Dr. Grace Hopper", "npi": "1234567893"},
    "cardiology",
    ["R07.9"],
    "Acme Health",
    "urgent",
)
A2 = Office(
    "A2",
    HARBOR,
    {"name": "Dr. Alan Turing", "npi": "1234567901"},
    "cardiology",
    ["R07.9"],
    "Acme Health",
    "urgent",
)
B = Office(
    "B",
    {"name": "Lakeside Clinic", "report_email": "referrals@lakeside.example"},
    {"name": "Dr. Barbara Liskov", "npi": "2345678918"},
    "cardiology",
    ["I10"],
    "Acme Health",
    "routine",
)
C = Office(
    "C",
    {"name": "Northside Pediatrics", "report_email": "desk@northside.example"},
    {"name": "Dr. Carl Sagan", "npi": "3456789122"},
    "dermatology",
    ["L40.0"],
    "Blue Shield",
    "routine",
)
D = Office(
    "D",
    {"name": "Valley Internal Medicine", "report_email": "loop@valley.example"},
    {"name": "Dr. Dorothy Hodgkin", "npi": "4567891237"},
    "neurology",
    ["G43.909"],
    "Medicare",
    "stat",
)
E = Office(
    "E",
    {"name": "Summit Health"},
    {"name": "Dr. Edsger Dijkstra", "npi": "5678912341"},
    "Dermatology",
    [],
    None,
    "asap",
)
OFFICES = [A1, A2, B, C, D, E]

MONTHS = [f"{y}-{m:02d}" for y in (2025, 2026) for m in range(1, 13)][:22]
C_COUNTS = [1, 0, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 4]
COUNTS: dict[str, list[int]] = {
    "A1": [2] * 14 + [3] + [2] * 7,
    "A2": [0, 0, 1, 0, 0, 1] + [0] * 16,
    "B": [1] * 12 + [2] * 6 + [0] * 4,
    "C": C_COUNTS,
    "D": [3] * 21 + [1],
    "E": [0] * 20 + [1, 2],
}
RITA = {"given_name": "Rita", "family_name": "Repeat", "birth_date": "1970-01-01"}
SAM = {"given_name": "Sam", "family_name": "Shared", "birth_date": "1971-02-02"}


def at(day: str, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC).replace(
        hour=hour, minute=minute
    )


@dataclass
class SeededHistory:
    facts: list[Fact] = field(default_factory=list)
    ids: dict[str, UUID] = field(default_factory=dict)
    patients: int = 0

    def add(self, fact: Fact, when: datetime, recorded: datetime | None = None) -> None:
        self.facts.append(
            fact.model_copy(update={"occurred_at": when, "recorded_at": recorded or when + LAG})
        )

    def refer(self, office: Office, when: datetime, name: str | None = None, **extra: Any) -> UUID:
        rid, recorded = uuid4(), extra.pop("recorded", None)
        self.patients += 1
        patient = {
            "given_name": "Pat",
            "family_name": f"Seed{self.patients:03d}",
            "birth_date": (date(1950, 1, 1) + timedelta(days=97 * self.patients)).isoformat(),
            "insurance": {"payer": office.payer, "member_id": f"M-{self.patients}"} if office.payer else None,
        }
        body = {
            "patient": {**patient, **extra.pop("patient", {})},
            "referring_provider": office.provider,
            "referring_clinic": office.clinic,
            "requested_specialty": office.specialty,
            "diagnosis_codes": office.codes,
            "priority": office.priority,
            "return_visit_on": extra.pop("return_visit_on", None),
        }
        self.add(make.received(rid, **body), when, recorded)
        if name is not None:
            self.ids[name] = rid
        return rid

    def book(
        self, rid: UUID, when: datetime, appointment: datetime, recorded: datetime | None = None
    ) -> None:
        self.add(make.scheduled(rid, appointment), when, recorded)

    def see(self, rid: UUID, when: datetime, recorded: datetime | None = None) -> None:
        self.add(make.seen(rid), when, recorded)

    def report(self, rid: UUID, when: datetime, recorded: datetime | None = None) -> None:
        self.add(
            ReportSent.new(
                rid, Delivery(message_id=f"<{rid}@seed>", sent_to="reports@x.example"), make.STAFF
            ),
            when,
            recorded,
        )

    def no_show(self, rid: UUID, when: datetime) -> None:
        self.add(PatientNoShow.new(rid, MissedAppointment(appointment_at=when), make.STAFF), when)

    def loop(self, rid: UUID, received: datetime, lead: int, visit: int, report: int | None) -> None:
        """Booked `lead` days after receipt, seen `visit` days after receipt, report `report` days later."""
        self.book(rid, received + lead * DAY, received + visit * DAY)
        self.see(rid, received + visit * DAY)
        if report is not None:
            self.report(rid, received + (visit + report) * DAY)

    def close(self, rid: UUID, received: datetime) -> None:
        self.loop(rid, received, 3, 10, 1)

    def pages(self) -> list[Recorded]:
        ordered = sorted(self.facts, key=lambda f: f.recorded_at)
        return [Recorded(i + 1, f) for i, f in enumerate(ordered)]


Story = Callable[[SeededHistory, Office, datetime], None]


def closed_as(name: str, **extra: Any) -> Story:
    def story(h: SeededHistory, office: Office, when: datetime) -> None:
        h.close(h.refer(office, when, name, **extra), when)

    return story


def lifecycle(name: str, lead: int, visit: int, report: int | None, **extra: Any) -> Story:
    def story(h: SeededHistory, office: Office, when: datetime) -> None:
        h.loop(h.refer(office, when, name, **extra), when, lead, visit, report)

    return story


def late(h: SeededHistory, office: Office, when: datetime) -> None:
    rid = h.refer(office, when, "late", recorded=at("2026-05-04"))
    h.book(rid, at("2026-05-05"), at("2026-05-12"))
    h.see(rid, at("2026-05-12"))
    h.report(rid, at("2026-05-13"))


def rita_declined(h: SeededHistory, office: Office, when: datetime) -> None:
    h.add(make.declined(h.refer(office, when, "rita-first", patient=RITA)), when + DAY)


def january_report(h: SeededHistory, office: Office, when: datetime) -> None:
    h.loop(h.refer(office, when, "reported-in-january"), when, 3, 10, None)
    h.report(h.ids["reported-in-january"], at("2026-01-08"))


def booked_keyed_late(h: SeededHistory, office: Office, when: datetime) -> None:
    rid = h.refer(office, when, "booking-keyed-late")
    h.add(make.scheduled(rid, at("2026-05-12")), when + 3 * DAY, recorded=at("2026-05-10"))
    h.see(rid, at("2026-05-12"))
    h.report(rid, at("2026-05-13"))


def may_no_show(h: SeededHistory, office: Office, when: datetime) -> None:
    rid = h.refer(office, when, "may-B2")
    h.book(rid, at("2026-05-19"), at("2026-05-25"))
    h.no_show(rid, at("2026-05-25"))
    h.book(rid, at("2026-05-26"), at("2026-06-01"))
    h.see(rid, at("2026-06-01"))
    h.report(rid, at("2026-06-06"))


def may_cancelled(h: SeededHistory, office: Office, when: datetime) -> None:
    h.add(make.cancelled(h.refer(office, when, "may-D3")), at("2026-05-25"))


def october(
    name: str, day: str, steps: Callable[[SeededHistory, UUID, datetime], None], **extra: Any
) -> Story:
    def story(h: SeededHistory, office: Office, _: datetime) -> None:
        when = at(day)
        steps(h, h.refer(office, when, name, **extra), when)

    return story


def booked_for_november(h: SeededHistory, rid: UUID, when: datetime) -> None:
    h.book(rid, when + 3 * DAY, at("2026-11-10"))


def booked_no_show(h: SeededHistory, rid: UUID, when: datetime) -> None:
    h.book(rid, when + 3 * DAY, at("2026-10-15"))
    h.no_show(rid, at("2026-10-15"))


def seen_awaiting(h: SeededHistory, rid: UUID, when: datetime) -> None:
    h.book(rid, when + 3 * DAY, at("2026-10-20"))
    h.see(rid, at("2026-10-20"))


def nothing(h: SeededHistory, rid: UUID, when: datetime) -> None:
    pass


def declined(h: SeededHistory, rid: UUID, when: datetime) -> None:
    h.add(make.declined(rid), when + DAY)


def accepted(h: SeededHistory, rid: UUID, when: datetime) -> None:
    h.add(make.accepted(rid), when + DAY)


def closes(h: SeededHistory, rid: UUID, when: datetime) -> None:
    h.close(rid, when)


SPECIALS: dict[tuple[str, str, int], Story] = {
    ("A2", "2025-03", 0): closed_as("sam-first", patient=SAM),
    ("C", "2025-05", 0): closed_as("sam-second", patient=SAM),
    ("D", "2025-02", 0): rita_declined,
    ("D", "2025-08", 0): closed_as("rita-second", patient=RITA),
    ("B", "2025-10", 0): lambda h, o, _: closed_as("october-31")(h, o, at("2025-10-31", 23, 30)),
    ("B", "2025-11", 0): lambda h, o, _: closed_as("november-1")(h, o, at("2025-11-01", 0, 0)),
    ("D", "2025-10", 0): january_report,
    ("A1", "2026-03", 2): late,
    ("D", "2026-04", 0): booked_keyed_late,
    ("A1", "2026-05", 0): lifecycle("may-A1", 2, 8, 1, return_visit_on="2026-05-20"),
    ("A1", "2026-05", 1): lifecycle("may-A2", 4, 10, 3, return_visit_on="2026-05-17"),
    ("B", "2026-05", 0): lifecycle("may-B1", 6, 12, 2, return_visit_on="2026-06-01"),
    ("B", "2026-05", 1): may_no_show,
    ("C", "2026-05", 0): lifecycle("may-C1", 10, 18, None),
    ("D", "2026-05", 0): lifecycle("may-D1", 12, 18, 3),
    ("D", "2026-05", 1): lifecycle("may-D2", 20, 26, 6, return_visit_on="2026-06-30"),
    ("D", "2026-05", 2): may_cancelled,
    ("A1", "2026-10", 0): october("oct-A1", "2026-10-02", closes),
    ("A1", "2026-10", 1): october("oct-A2", "2026-10-05", booked_for_november),
    ("D", "2026-10", 0): october("oct-D1", "2026-10-06", booked_no_show),
    ("C", "2026-10", 0): october("oct-C1", "2026-10-07", closes),
    ("C", "2026-10", 1): october("oct-C2", "2026-10-08", seen_awaiting, return_visit_on="2026-11-20"),
    ("C", "2026-10", 2): october("oct-C3", "2026-10-14", nothing),
    ("E", "2026-10", 0): october("oct-E1", "2026-10-19", declined),
    ("E", "2026-10", 1): october("oct-E2", "2026-10-21", accepted),
    ("C", "2026-10", 3): october("oct-C4", "2026-10-26", nothing),
}


def history() -> SeededHistory:
    h = SeededHistory()
    for index, month in enumerate(MONTHS):
        slot = 0
        for office in OFFICES:
            for j in range(COUNTS[office.code][index]):
                when = at(f"{month}-{2 + 3 * slot:02d}")
                story = SPECIALS.get((office.code, month, j))
                if story is not None:
                    story(h, office, when)
                else:
                    h.close(h.refer(office, when, f"{office.code}-{month}-{j}"), when)
                slot += 1
    return h


# ---------------------------------------------------------------------------------------------
# The known answers.

NOW = at("2026-11-01", 12)
"""The worklists' "now"; the trends' cutoff for October 2026 is the end of October (now is later)."""

HARBOR_KEY, LAKESIDE, NORTHSIDE, VALLEY, SUMMIT = (
    "reports@harbor.example",
    "referrals@lakeside.example",
    "desk@northside.example",
    "loop@valley.example",
    "summit health",
)

VolumeAnswer = tuple[str, str, list[int], list[int]]
"""key, label, referrals per month of the range, per month of the same months a year earlier."""

CLINICS_JUN_OCT_2026: list[VolumeAnswer] = [
    (VALLEY, "Valley Internal Medicine", [3, 3, 3, 3, 1], [3, 3, 3, 3, 3]),
    (HARBOR_KEY, "Harbor Family Medicine", [2, 2, 2, 2, 2], [3, 2, 2, 2, 2]),
    (NORTHSIDE, "Northside Pediatrics", [1, 1, 1, 1, 4], [0, 1, 1, 1, 0]),
    (SUMMIT, "Summit Health", [0, 0, 0, 1, 2], [0, 0, 0, 0, 0]),
    (LAKESIDE, "Lakeside Clinic", [2, 0, 0, 0, 0], [1, 1, 1, 1, 1]),
]
TOTALS_JUN_OCT_2026 = [8, 6, 6, 7, 9]

PROVIDERS_MAR_JUN_2026: list[VolumeAnswer] = [
    ("4567891237", "Dr. Dorothy Hodgkin", [3, 3, 3, 3], [3, 3, 3, 3]),
    ("1234567893", "Dr. Grace Hopper", [3, 2, 2, 2], [2, 2, 2, 2]),
    ("2345678918", "Dr. Barbara Liskov", [2, 2, 2, 2], [1, 1, 1, 1]),
    ("3456789122", "Dr. Carl Sagan", [1, 1, 1, 1], [0, 1, 1, 0]),
]
"""Dr. Turing referred in March and June 2025 only: nothing in the range, so no row."""

SEP_OCT_2026: dict[str, list[VolumeAnswer]] = {
    "specialty": [
        ("dermatology", "dermatology", [2, 6], [1, 0]),
        ("cardiology", "cardiology", [2, 2], [3, 3]),
        ("neurology", "neurology", [3, 1], [3, 3]),
    ],
    "reason": [
        ("Skin and subcutaneous tissue", "Skin and subcutaneous tissue", [1, 4], [1, 0]),
        ("Nervous system", "Nervous system", [3, 1], [3, 3]),
        ("Symptoms, signs and abnormal findings", "Symptoms, signs and abnormal findings", [2, 2], [2, 2]),
        ("No diagnosis code", "No diagnosis code", [1, 2], [0, 0]),
    ],
    "payer": [
        ("blue shield", "Blue Shield", [1, 4], [1, 0]),
        ("acme health", "Acme Health", [2, 2], [3, 3]),
        ("medicare", "Medicare", [3, 1], [3, 3]),
        ("self-pay or unknown", "Self-pay or unknown", [1, 2], [0, 0]),
    ],
    "priority": [
        ("routine", "routine", [1, 4], [2, 1]),
        ("stat", "stat", [3, 1], [3, 3]),
        ("urgent", "urgent", [2, 2], [2, 2]),
        ("asap", "asap", [1, 2], [0, 0]),
    ],
}
TOTAL_2025 = [7, 6, 7, 7, 7, 7, 7, 7, 7, 6, 7, 7]
TOTAL_JAN_OCT_2026 = [8, 7, 9, 8, 8, 8, 6, 6, 7, 9]

HARBOR_JAN_MAR_2026_AS_OF = {"2026-04-15": [2, 2, 2], "2026-06-01": [2, 2, 3]}
"""The late March referral (recorded 4 May) is unknown on 15 April and known on 1 June."""

TrendAnswer = tuple[str, str, int, float, str, tuple[int, int, int]]
"""key, status, count, baseline, explanation, misses (late reports, slow bookings, no-shows)."""

VALLEY_MAY_2026_SLOW_BOOKINGS_AS_OF = {"2026-05-05": 1, "2026-05-11": 0}
"""As known on 5 May, D's 17 April referral had waited 14 days unbooked; by 11 May the booking of
20 April was on record."""

CLINIC_TRENDS_OCT_2026: list[TrendAnswer] = [
    (LAKESIDE, "lapsed", 0, 1.0, "no referrals since June 2026 after a 6-month average of 1.0", (1, 0, 1)),
    (VALLEY, "declining", 1, 3.0, "1 referral in October 2026 against a 6-month average of 3.0", (0, 1, 1)),
    (SUMMIT, "new", 2, 0.17, "first referral in September 2026", (0, 0, 0)),
    (NORTHSIDE, "growing", 4, 1.0, "4 referrals in October 2026 against a 6-month average of 1.0", (1, 1, 0)),
    (HARBOR_KEY, "steady", 2, 2.0, "2 referrals in October 2026 against a 6-month average of 2.0", (1, 0, 0)),
]
"""Misses over April-October 2026: Lakeside's May no-show whose report was late; Valley's 20-day
booking in May and October no-show; Northside's overdue May report and a referral of 14 October
unbooked at month end; Harbor's May report sent after its due time. Declined, cancelled and
not-yet-due referrals are no misses."""
PROVIDER_TRENDS_OCT_2026 = ["2345678918", "4567891237", "5678912341", "3456789122", "1234567893"]
LAKESIDE_MAY_2026: TrendAnswer = (
    LAKESIDE,
    "steady",
    2,
    1.67,
    "2 referrals in May 2026 against a 6-month average of 1.7",
    (0, 0, 1),
)

WORKLISTS_AT_NOW: dict[str, list[tuple[str, float]]] = {
    "to_schedule": [("oct-D1", 26.1), ("oct-C3", 18.1), ("oct-E2", 11.1), ("oct-C4", 6.1)],
    "scheduled": [("oct-A2", 27.1)],
    "awaiting_report": [("oct-C2", 24.1)],
    "overdue": [("may-C1", 171.1)],
}
"""Open lists, oldest first, with age in days at NOW. The no-show (oct-D1) waits to be rebooked."""
CLOSED_MOST_RECENT = ["oct-C1", "oct-A1", "E-2026-09-0"]
CLOSED_COUNT = 148
"""158 referrals less the 10 not closed: 7 open ones, Rita's declined first, may-D3, oct-E1."""

KpiAnswer = tuple[int, int, float | None, float | None, float | None, int, float | None, float | None]
"""referrals, scheduled, lead median, lead p90, no-show rate, reports sent, visit-to-report median,
share of reports before the return visit."""

KPIS_MAY_2026: KpiAnswer = (8, 7, 8.0, 20.0, 0.1429, 6, 3.0, 0.75)
"""Leads 2, 4, 6, 8, 10, 12, 20 (D3 cancelled unbooked); 1 no-show of 7 booked; reports 1, 3, 2,
5, 3, 6 days after the visit (C1 never); before the return visit: A1, B1, D2 yes, A2 no."""
KPIS_MAY_2026_HARBOR: KpiAnswer = (2, 2, 3.0, 4.0, 0.0, 2, 2.0, 0.5)
KPIS_OCT_2026: KpiAnswer = (9, 5, 3.0, 3.0, 0.2, 2, 1.0, None)
KPIS_MAR_2026_AS_OF: dict[str, KpiAnswer] = {
    "2026-04-15": (8, 8, 3.0, 3.0, 0.0, 8, 1.0, None),
    "2026-06-01": (9, 9, 3.0, 58.0, 0.0, 9, 1.0, None),
}
"""As of 1 June the late March referral is known, booked 58 days after it arrived, and reported."""

ScorecardAnswer = tuple[str, str, int, float | None, float | None, float | None, float | None]
"""clinic, label, referrals, lead median, visit-to-report median, share before return visit,
loop-closure rate (CMS50 for 2026)."""

SCORECARDS_2026: list[ScorecardAnswer] = [
    (VALLEY, "Valley Internal Medicine", 28, 3.0, 1.0, 1.0, 0.9286),
    (HARBOR_KEY, "Harbor Family Medicine", 21, 3.0, 1.0, 0.5, 0.9524),
    (LAKESIDE, "Lakeside Clinic", 12, 3.0, 1.0, 1.0, 1.0),
    (NORTHSIDE, "Northside Pediatrics", 12, 3.0, 1.0, None, 0.6667),
    (SUMMIT, "Summit Health", 3, 3.0, 1.0, None, 0.3333),
]

Cms50Answer = tuple[int, int, float | None]
"""denominator, numerator, rate."""

CMS50_2025: dict[str | None, Cms50Answer] = {
    None: (66, 64, 0.9697),
    VALLEY: (29, 27, 0.931),
    HARBOR_KEY: (22, 22, 1.0),
    NORTHSIDE: (6, 6, 1.0),
    LAKESIDE: (10, 10, 1.0),
    SUMMIT: (0, 0, None),
}
"""68 referrals 1 Jan - 31 Oct 2025 (B's on 31 October 23:30 in, its 1 November one out). Rita
counts once, by her declined February referral (no report, not closed); Sam once practice-wide
(first by Harbor) but once for each office; D's October referral reported on 8 January 2026
is not closed in 2025."""
CMS50_2025_LAKESIDE_AS_OF_NOV_5: Cms50Answer = (10, 9, 0.9)
"""On 5 November 2025 the report for B's 31 October referral (sent 11 November) is not known."""
CMS50_2026: dict[str | None, Cms50Answer] = {
    None: (76, 67, 0.8816),
    NORTHSIDE: (12, 8, 0.6667),
}
