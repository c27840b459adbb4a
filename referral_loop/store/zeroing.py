"""Overwriting what a statement frees with zeros, so that a destroyed key leaves no bytes behind."""

from __future__ import annotations

from typing import Any


def zeroing_what_it_frees(cursor: Any, sqlite: bool, statement: str, params: tuple[Any, ...]) -> None:
    """Run `statement`; on SQLite with what it frees overwritten with zeros (PRAGMA secure_delete
    on this connection for it, then as it was): a destroyed key leaves no bytes in the file's
    free space, whatever the build's default. On PostgreSQL old row versions go by VACUUM."""
    if not sqlite:
        cursor.execute(statement, params)
        return
    cursor.execute("PRAGMA secure_delete")
    was = int(_first_column(cursor.fetchone()))
    cursor.execute("PRAGMA secure_delete = ON")
    try:
        cursor.execute(statement, params)
    finally:
        cursor.execute(f"PRAGMA secure_delete = {'ON' if was else 'OFF'}")


def _first_column(row: Any) -> Any:
    """The first column of a row from SQLite (a tuple or sqlite3.Row) or psycopg (a dict row)."""
    return next(iter(row.values())) if isinstance(row, dict) else row[0]
