"""Setting up a SQLite file that other processes may be opening at the same moment."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable


def patiently(connection: sqlite3.Connection, statements: Iterable[str], attempts: int = 100) -> None:
    """Run each statement, again while another connection holds the file: switching to WAL (or
    creating the schema) can fail at once with "database is locked", the busy timeout not
    covering it, as when two replicas open the same file together."""
    for statement in statements:
        for attempt in range(attempts):
            try:
                connection.execute(statement)
                break
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or attempt == attempts - 1:
                    raise
                time.sleep(0.05)
