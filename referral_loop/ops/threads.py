"""Blocking questions (a store's) asked in worker threads for readiness and metrics.

A probe that times out leaves its thread running; the process must not close a store under it
(closing a SQLite connection another thread is using can crash the process). So every such thread
is tracked, and a service waits for them (`finished`) before it closes its stores.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
_running: set[asyncio.Future[object]] = set()


def _forget(future: asyncio.Future[object]) -> None:
    _running.discard(future)
    if not future.cancelled():
        future.exception()  # retrieved: a late failure of an abandoned probe is not an error to report


async def in_thread(question: Callable[[], T]) -> T:
    """`question()` in a worker thread; cancelling the caller abandons the wait, not the thread."""
    future: asyncio.Future[T] = asyncio.ensure_future(asyncio.to_thread(question))
    _running.add(future)  # type: ignore[arg-type]
    future.add_done_callback(_forget)  # type: ignore[arg-type]
    return await asyncio.shield(future)


async def finished(timeout_s: float = 15.0) -> None:
    """Wait until every probe thread still running has returned (up to `timeout_s`)."""
    running = [f for f in _running if f.get_loop() is asyncio.get_running_loop()]
    if running:
        await asyncio.wait(running, timeout=timeout_s)
