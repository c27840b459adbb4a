"""Group commit: entries that arrive while a write is in progress are written together next.

Each durable write costs one thread hop and one commit (an fsync), whatever it holds. Intake
records one audit entry per request and waits for it, so under load the writes, serialised,
were the queue. Here the first entry starts a flush task; entries that arrive while it writes
wait in `pending` and the task writes them all in its next round, one hop and one transaction,
until none are left, then it ends (nothing runs while idle). Each caller still returns only
once its own entry is durable, and raises if the write holding it failed. A batch is written
in `one_transaction`: all of it durable, or none.

One event loop is assumed (one per process in practice): the pending list and the flush task
belong to the loop that started the flush. A call from another loop while that flush runs is
not batched but written alone, as before group commit: slower, still durable before it returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Waiting = list[tuple[T, asyncio.Future[None]]]


class GroupCommit(Generic[T]):
    """Batches concurrent `submit`s into calls of `write(items)`, a blocking all-or-nothing write."""

    def __init__(self, write: Callable[[list[T]], None]) -> None:
        self._write = write
        self._pending: Waiting[T] = []
        self._flushing: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> None:
        """Return once `item` is written (in arrival order), or raise what its write raised."""
        loop = asyncio.get_running_loop()
        if self._busy() and self._flushing is not None and self._flushing.get_loop() is not loop:
            await asyncio.to_thread(self._write, [item])  # another loop's flush owns the list
            return
        done = loop.create_future()
        self._pending.append((item, done))
        if not self._busy():
            self._flushing = loop.create_task(self._flush())
        await asyncio.shield(done)  # a cancelled caller leaves the shared write to the others

    def _busy(self) -> bool:
        return self._flushing is not None and not self._flushing.done()

    async def _flush(self) -> None:
        """Write what is waiting, again while more arrived meanwhile, then end."""
        while self._pending:
            batch, self._pending = self._pending, []
            await self._write_batch(batch)

    async def _write_batch(self, batch: Waiting[T]) -> None:
        """One hop, one transaction; every waiter in it gets the outcome."""
        try:
            await asyncio.to_thread(self._write, [item for item, _ in batch])
        except asyncio.CancelledError:  # the loop is shutting down: nobody may think it written
            for _, done in [*batch, *self._pending]:
                done.cancel()
            self._pending = []
            raise
        except Exception as error:  # handed to every waiter, each raises it
            _settle(batch, error)
        else:
            _settle(batch, None)


def _settle(batch: Waiting[T], error: Exception | None) -> None:
    for _, done in batch:
        if done.done():
            continue  # only the flush settles these; kept safe all the same
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)


@contextmanager
def one_transaction(connection: Any, sqlite: bool) -> Iterator[None]:
    """One transaction on a connection in autocommit mode: psycopg's own, or BEGIN IMMEDIATE and
    COMMIT by hand on SQLite (the write lock taken first: the audit chain reads its tail, then
    appends; rolled back if the body raises, so no later INSERT joins a transaction left open)."""
    if not sqlite:
        with connection.transaction():
            yield
        return
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if connection.in_transaction:  # SQLite rolls back by itself after some errors
            connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
