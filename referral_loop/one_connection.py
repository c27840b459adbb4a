"""One database connection a component keeps: opened on first use (after a fork, each worker its
own), shared by threads under a lock, and closed on any failure, so the next use starts afresh
instead of carrying on over a broken connection or an SQLite transaction left open.

The side tables (web/side_tables.py) and the audit log (web/audit.py) hold theirs so; each says
how it opens (`_connect`: its file and pragmas, or PostgreSQL with its own tables)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class OneConnection:
    """A connection opened by `_connect`, used through `_connected()`, let go by `close()`."""

    def __init__(self) -> None:
        self._connection: Any = None
        self._lock = threading.Lock()

    def _connect(self) -> Any:
        """A new connection, ready for use (the subclass says to what)."""
        raise NotImplementedError

    @contextmanager
    def _connected(self) -> Iterator[Any]:
        """The connection, under the lock; closed on any failure: the next use starts afresh."""
        with self._lock:
            try:
                if self._connection is None:
                    self._connection = self._connect()
                yield self._connection
            except BaseException:
                self._close()
                raise

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def close(self) -> None:
        """Let the connection go (the next use opens another)."""
        with self._lock:
            self._close()
