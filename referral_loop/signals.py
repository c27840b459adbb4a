"""Graceful stops: SIGINT and SIGTERM set a service's `stopping` event; it drains and exits."""

from __future__ import annotations

import asyncio
import signal


def stop_on_signals(stopping: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
