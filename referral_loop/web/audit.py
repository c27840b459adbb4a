"""The audit log of access to PHI: who did what to which referral(s), and the outcome.

One append-only table, `audit_log`, in its own SQLite file (`AUDIT_SQLITE_PATH`, default
`$DATA_DIR/store/audit.sqlite`) or in the PostgreSQL database of the store. Append-only is
enforced by the database, not only by this code: triggers refuse every UPDATE and DELETE (and
TRUNCATE on PostgreSQL), so no path through the app, not even a bug or an injected statement on
this connection, can change or remove an entry. The app only ever INSERTs and SELECTs.

Why a table and not an eventsourcing application: entries are written on every read of PHI and
queried by who, referral and time, which a table with indexes answers directly (docs/security.md).
The entries are not secret but are sensitive: they name no patient, only referral ids, user
names and resources.

Recording is blocking (call it off the event loop, or use `arecord`), durable before it returns
(SQLite synchronous=FULL), and a failure raises: a caller then refuses the read (no audit, no PHI).
`arecord` group-commits (audit_batching.py): concurrent entries share one hop and one transaction.
Entries are hash-chained (audit_chain.py; `referral-loop audit verify`, audit_verify.py), so
what the triggers cannot stop (their owner dropping them) still shows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from referral_loop.one_connection import OneConnection
from referral_loop.settings import Settings
from referral_loop.web.audit_anonymous import Unauthenticated, unauthenticated
from referral_loop.web.audit_batching import GroupCommit, one_transaction
from referral_loop.web.audit_chain import chain_key, linked, lock_tail
from referral_loop.web.audit_tables import CHAIN_COLUMNS, open_postgres, open_sqlite

Outcome = Literal["allowed", "denied", "failed"]
COLUMNS = "at, service, who, role, action, what, referral_ids, outcome, detail"
INSERT = f"INSERT INTO audit_log ({COLUMNS}, {', '.join(CHAIN_COLUMNS)}) VALUES ({', '.join('?' * 13)})"  # noqa: S608 - constants only


@dataclass(frozen=True)
class AuditEvent:
    """One access: `action` (read, search, export, create) on `what` (a resource, e.g. worklists)."""

    who: str
    role: str
    action: str
    what: str
    outcome: Outcome
    referral_ids: tuple[str, ...] = ()
    detail: str = ""
    service: str = ""
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def row(self) -> tuple[str, ...]:
        at = self.at.astimezone(UTC).isoformat(timespec="microseconds")
        ids = json.dumps(list(self.referral_ids))
        return (at, self.service, self.who, self.role, self.action, self.what, ids, self.outcome, self.detail)

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> AuditEvent:
        at, service, who, role, action, what, ids, outcome, detail = row
        moment, referral_ids = datetime.fromisoformat(at), tuple(json.loads(ids))
        return cls(who, role, action, what, outcome, referral_ids, detail, service, moment)


@dataclass(frozen=True)
class AuditQuery:
    """Filters of the admin query; each None matches everything. Newest first, at most `limit`."""

    who: str | None = None
    referral_id: UUID | None = None
    what: str | None = None
    outcome: Outcome | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 500

    def where(self) -> tuple[str, list[Any]]:
        found = [
            ("who = ?", self.who),
            ("what = ?", self.what),
            ("outcome = ?", self.outcome),
            ("referral_ids LIKE ?", f'%"{self.referral_id}"%' if self.referral_id else None),
            ("at >= ?", _iso(self.since)),
            ("at <= ?", _iso(self.until)),
        ]
        terms = [(sql, value) for sql, value in found if value is not None]
        return " AND ".join(["1 = 1", *(sql for sql, _ in terms)]), [value for _, value in terms]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="microseconds")


class AuditLog(OneConnection):
    """The audit table: one connection, opened on first use, shared by threads under a lock."""

    def __init__(self, settings: Settings, service: str) -> None:
        super().__init__()
        self.settings, self.service = settings, service
        self._group = GroupCommit[AuditEvent](self._write)
        self._key = chain_key(settings)
        self.unauthenticated = Unauthenticated()

    def record(self, event: AuditEvent) -> None:
        """Append `event` (stamped with this service); durable when it returns, raises otherwise."""
        self.record_many([event])

    def record_many(self, events: Sequence[AuditEvent]) -> None:
        """Append `events` in order in one transaction, chained after the newest entry (the
        chain's lock held from reading it to the commit): all durable when it returns, or none."""
        rows = [_stamped(event, self.service).row() for event in events]
        sqlite = self.settings.store == "sqlite"
        with self._connected() as connection, one_transaction(connection, sqlite):
            chained = linked(rows, lock_tail(connection, sqlite), self._key)
            connection.cursor().executemany(self._sql(INSERT), chained)

    async def arecord(self, event: AuditEvent) -> None:
        """`record`, group-committed with the entries arriving meanwhile (one event loop per
        process assumed: GroupCommit); returns once this entry is durable, raises otherwise.
        An unauthenticated caller's refusal past the window's bound is counted instead
        (audit_anonymous.py); a window that is over gets its summaries written first."""
        for summary in self.unauthenticated.due():
            await self._group.submit(summary)
        if not unauthenticated(event) or self.unauthenticated.admit(event):
            await self._group.submit(event)

    def _write(self, events: list[AuditEvent]) -> None:
        """One transaction, whatever the batch holds."""
        if len(events) == 1:
            self.record(events[0])
        else:
            self.record_many(events)

    def query(self, query: AuditQuery) -> list[AuditEvent]:
        where, params = query.where()
        sql = f"SELECT {COLUMNS} FROM audit_log WHERE {where} ORDER BY seq DESC LIMIT ?"  # noqa: S608 - fixed terms, bound values
        return [AuditEvent.from_row(tuple(row)) for row in self._run(sql, (*params, query.limit))]

    def chained(self, after: int, limit: int) -> list[tuple[Any, ...]]:
        """Up to `limit` entries after seq `after`, oldest first, as stored: seq, the fields
        (COLUMNS), then the chain's (CHAIN_COLUMNS). What `audit verify` walks."""
        sql = f"SELECT seq, {COLUMNS}, {', '.join(CHAIN_COLUMNS)} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?"  # noqa: S608 - constants only
        return [tuple(row) for row in self._run(sql, (after, limit))]

    def _run(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        with self._connected() as connection:
            cursor = connection.execute(self._sql(sql), params)
            return list(cursor.fetchall()) if cursor.description else []

    def _sql(self, statement: str) -> str:
        return statement if self.settings.store == "sqlite" else statement.replace("?", "%s")

    def writable(self) -> None:
        """Raises unless an entry could be appended now (intake's readiness), writing nothing:
        SQLite's write lock taken and given back, or PostgreSQL's INSERT privilege on the table."""
        with self._connected() as connection:
            if self.settings.store == "sqlite":
                connection.execute("BEGIN IMMEDIATE")
                connection.execute("ROLLBACK")
            elif not connection.execute("SELECT has_table_privilege('audit_log', 'INSERT')").fetchone()[0]:
                raise PermissionError("no INSERT on audit_log")

    def _connect(self) -> Any:
        return open_sqlite(self.settings) if self.settings.store == "sqlite" else open_postgres(self.settings)

    def close(self) -> None:
        """Closes the connection, after writing the summaries of refusals counted (if it can)."""
        try:
            if summaries := self.unauthenticated.drain():
                self.record_many(summaries)
        finally:
            super().close()


def _stamped(event: AuditEvent, service: str) -> AuditEvent:
    return event if event.service else AuditEvent(**{**event.__dict__, "service": service})
