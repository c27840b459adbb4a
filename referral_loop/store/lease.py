"""Leases: which replica of a service does the work that must be done by one process at a time.

Replicas of the store writer, feedback and the projector run side by side; one holds the role's
lease and works, the others stand by, ready to take over. The lease lives in the store the role
writes, and dies with its holder's process: a file lock beside a SQLite store (one machine, as
SQLite is), a session advisory lock on PostgreSQL (released when the holder's connection drops).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Any, Protocol

import psycopg
from eventsourcing.application import Application

ROLE_KEYS = {"store-writer": 0x524C_5357, "feedback": 0x524C_4642, "projections": 0x524C_5052}
"""Each role's advisory lock key ("RLSW", "RLFB", "RLPR"), per database."""


class Lease(Protocol):
    def try_take(self) -> bool: ...

    def still_held(self) -> bool: ...

    def give_back(self) -> None: ...

    def close(self) -> None: ...


class FileLease:
    """An exclusive flock on a file beside the SQLite store."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def try_take(self) -> bool:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def still_held(self) -> bool:
        return True  # a lock on an open file descriptor is lost only with the process

    def give_back(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self.fd)


class AdvisoryLease:
    """A session-level advisory lock on a connection of its own to the PostgreSQL store."""

    def __init__(self, connect_kwargs: dict[str, Any], key: int) -> None:
        self.connect_kwargs, self.key = connect_kwargs, key
        self.conn = psycopg.connect(**connect_kwargs, autocommit=True)

    def try_take(self) -> bool:
        """Take the lock if free; a lost connection lost the lock too: reconnect, try next time."""
        try:
            if self.conn.closed:
                self.conn = psycopg.connect(**self.connect_kwargs, autocommit=True)
            row = self.conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        except psycopg.OperationalError:
            self.conn.close()
            return False
        return bool(row and row[0])

    def still_held(self) -> bool:
        """The session that holds the lock is alive (if it dropped, another replica may lead)."""
        try:
            self.conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def give_back(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))

    def close(self) -> None:
        self.conn.close()


class NoLease:
    """For an in-memory store: no other process can reach it."""

    def try_take(self) -> bool:
        return True

    def still_held(self) -> bool:
        return True

    def give_back(self) -> None:
        return None

    def close(self) -> None:
        return None


def lease_for(app: Application[Any], role: str) -> Lease:
    """The `role`'s lease in the store of `app` (blocking: call it off the event loop)."""
    datastore: Any = getattr(app.recorder, "datastore", None)
    if datastore is not None and hasattr(datastore, "schema"):
        params = {k: v for k, v in datastore.pool.kwargs.items() if k != "row_factory"}
        return AdvisoryLease(params, ROLE_KEYS[role])
    db_name = getattr(getattr(datastore, "pool", None), "db_name", "") or ""
    if not db_name or ":memory:" in db_name or "mode=memory" in db_name:
        return NoLease()
    return FileLease(Path(f"{db_name}.{role}-lease"))
