"""The read models' tables: one row per referral, monthly volume counters, the follower's position,
and the facts the projector set aside (`quarantine.py`).

Times are UTC text in one fixed format (`stamp`), so they sort and compare as text on both
databases. `*_recorded_at` columns say when the store learned a milestone: as-of queries
("as known on") filter on them, while the milestone's own time is when it happened.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from services.projections.db import Cursor, Database

REFERRAL_COLUMNS = [
    "referral_id",
    "patient_key",
    "patient_name",
    "clinic_key",
    "clinic",
    "provider_npi",
    "provider_name",
    "specialty",
    "reason_chapter",
    "payer",
    "priority",
    "channel",
    "month",
    "received_at",
    "received_recorded_at",
    "status",
    "accepted_at",
    "scheduled_at",
    "scheduled_recorded_at",
    "appointment_at",
    "no_shows",
    "seen_at",
    "seen_recorded_at",
    "return_visit_on",
    "report_due_at",
    "report_sent_at",
    "report_recorded_at",
    "due_soon_at",
    "overdue_at",
    "cancelled_at",
    "declined_at",
    "updated_at",
    "report_late",
]
"""`report_late`: when the store recorded feedback's ReportLate (the report went out after its due
time); NULL otherwise."""
INTEGER_COLUMNS = {"no_shows"}
ADDED_COLUMNS = ("report_late",)
"""Columns added to `referral_view` since it was first released: `create` adds those a table made
by an older version lacks, at the end, where REFERRAL_COLUMNS lists them (so `SELECT *` copies
between tables line up); their value is NULL in the rows already there."""


def tables(suffix: str = "") -> dict[str, str]:
    names = ("referral_view", "volume_monthly", "view_position", "quarantined_fact")
    return {name: f"{name}{suffix}" for name in names}


def table_ddl(suffix: str = "") -> list[str]:
    """The tables, and the position's one row (at 0 in new tables)."""
    position = tables(suffix)["view_position"]
    return [
        *create_ddl(suffix),
        f"INSERT INTO {position} (name, position) VALUES ('referrals', 0) ON CONFLICT (name) DO NOTHING",
    ]


def create_ddl(suffix: str = "") -> list[str]:
    """CREATE TABLE of each table, in the order of `tables`."""
    t = tables(suffix)
    columns = ", ".join(
        f"{c} {'INTEGER NOT NULL DEFAULT 0' if c in INTEGER_COLUMNS else 'TEXT'}"
        for c in REFERRAL_COLUMNS[1:]
    )
    return [
        f"CREATE TABLE IF NOT EXISTS {t['referral_view']} (referral_id TEXT PRIMARY KEY, {columns})",
        f"CREATE TABLE IF NOT EXISTS {t['volume_monthly']} (month TEXT NOT NULL, dimension TEXT NOT NULL, "
        "key TEXT NOT NULL, label TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (dimension, key, month))",
        f"CREATE TABLE IF NOT EXISTS {t['view_position']} (name TEXT PRIMARY KEY, position INTEGER NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {t['quarantined_fact']} (position BIGINT PRIMARY KEY, "
        "follower TEXT NOT NULL, fact_type TEXT NOT NULL, reason TEXT NOT NULL, referral_id TEXT, "
        "event_id TEXT, set_aside_at TEXT NOT NULL)",
    ]


def index_ddl() -> list[str]:
    """Secondary indexes of the live tables (a rebuild loads without them, then adds them at the swap)."""
    return [
        "CREATE INDEX IF NOT EXISTS referral_view_month ON referral_view (month)",
        "CREATE INDEX IF NOT EXISTS referral_view_status ON referral_view (status)",
        "CREATE INDEX IF NOT EXISTS referral_view_clinic ON referral_view (clinic_key, month)",
        "CREATE INDEX IF NOT EXISTS volume_monthly_month ON volume_monthly (dimension, month)",
    ]


SCHEMA_LOCK = 7316002
"""PostgreSQL advisory lock taken while creating the views: two replicas starting at once take
turns (concurrent CREATE TABLE IF NOT EXISTS can fail there with a duplicate pg_type row)."""


def create(db: Database, suffix: str = "") -> None:
    with db.transaction() as cursor:
        if db.dialect == "postgres":
            cursor.execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK,))
        for statement in table_ddl(suffix) + ([] if suffix else index_ddl()):
            cursor.execute(statement)
        add_columns(cursor, db.dialect, tables(suffix)["referral_view"])


def add_columns(cursor: Cursor, dialect: str, table: str) -> None:
    """Add the ADDED_COLUMNS that `table` lacks (a view made before they existed)."""
    if dialect == "postgres":
        sql = (
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ?"
        )
    else:
        sql = "SELECT name FROM pragma_table_info(?)"
    cursor.execute(sql, (table,))
    present = {row[0] for row in cursor.fetchall()}
    for column in ADDED_COLUMNS:
        if column not in present:
            cursor.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT")


def swap_in(db: Database, suffix: str, built_in: Path | None = None) -> None:
    """Make the tables built under `suffix` the live ones, in one transaction: renamed when they
    were built in `db`, copied when they were built in the SQLite file `built_in`."""
    if built_in is None:
        with db.transaction() as cursor:
            _rename(cursor, suffix)
        return
    connection = db.connect()
    connection.execute("ATTACH DATABASE ? AS built", (str(built_in),))
    try:
        with db.transaction() as cursor:
            _copy(cursor, suffix, "built")
    finally:
        connection.execute("DETACH DATABASE built")


def _rename(cursor: Cursor, suffix: str) -> None:
    for live, built in zip(tables().values(), tables(suffix).values(), strict=True):
        cursor.execute(f"DROP TABLE IF EXISTS {live}")
        cursor.execute(f"ALTER TABLE {built} RENAME TO {live}")
    for statement in index_ddl():
        cursor.execute(statement)


def _copy(cursor: Cursor, suffix: str, schema: str) -> None:
    """Fill new live tables from the attached database `schema`, then index them."""
    pairs = zip(tables().values(), tables(suffix).values(), create_ddl(), strict=True)
    for live, built, create in pairs:
        cursor.execute(f"DROP TABLE IF EXISTS {live}")
        cursor.execute(create)
        cursor.execute(f"INSERT INTO {live} SELECT * FROM {schema}.{built}")
    for statement in index_ddl():
        cursor.execute(statement)


def drop(db: Database, suffix: str) -> None:
    with db.transaction() as cursor:
        for table in tables(suffix).values():
            cursor.execute(f"DROP TABLE IF EXISTS {table}")


def stamp(moment: datetime) -> str:
    """A moment as fixed-width UTC text: 2026-11-22T20:42:37.123456Z (years 1000 to 9999)."""
    text = moment.isoformat(timespec="microseconds")
    if text.endswith("+00:00"):
        return text[:-6] + "Z"
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_stamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
