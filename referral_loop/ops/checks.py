"""Readiness checks: each asks one dependency a cheap real question, with a timeout.

A check is an async probe that returns when the dependency is usable and raises otherwise
(`Failing` with a short reason, or any error, reported by its type). Reasons never carry data.
A probe may answer a short text, shown as the check's `detail` (how many facts were set aside).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.errors import NotFoundError

from referral_loop.ops.threads import in_thread

Probe = Callable[[], Awaitable[str | None]]
CHECK_TIMEOUT_S = 3.0


class Failing(Exception):
    """The dependency is not usable; the message is the short reason readiness shows."""


@dataclass(frozen=True)
class Check:
    name: str
    probe: Probe
    timeout_s: float = CHECK_TIMEOUT_S


async def outcome(check: Check) -> dict[str, Any]:
    """{"name", "ok", "reason"} of one check, run with its timeout (and "detail", if it gave one)."""
    try:
        detail = await asyncio.wait_for(check.probe(), check.timeout_s)
    except Failing as error:
        return {"name": check.name, "ok": False, "reason": str(error)}
    except TimeoutError:
        return {"name": check.name, "ok": False, "reason": f"no answer within {check.timeout_s:g} s"}
    except Exception as error:
        return {"name": check.name, "ok": False, "reason": type(error).__name__}
    passed = {"name": check.name, "ok": True, "reason": ""}
    return passed if detail is None else {**passed, "detail": detail}


async def readiness(checks: Sequence[Check]) -> tuple[bool, list[dict[str, Any]]]:
    """Every check at once; ready when all pass."""
    results = list(await asyncio.gather(*(outcome(check) for check in checks)))
    return all(r["ok"] for r in results), results


def nats_connected(nc: Callable[[], Client | None]) -> Check:
    """The process's NATS connection (given by a function: intake connects in the background)."""

    async def probe() -> None:
        client = nc()
        if client is None or not client.is_connected:
            raise Failing("not connected to NATS")

    return Check("nats", probe)


def streams_present(nc: Callable[[], Client | None], names: Sequence[str]) -> Check:
    """Each JetStream stream exists (asked of the server, not remembered)."""

    async def probe() -> None:
        client = nc()
        if client is None or not client.is_connected:
            raise Failing("not connected to NATS")
        js = client.jetstream()
        for name in names:
            try:
                await js.stream_info(name)
            except NotFoundError:
                raise Failing(f"stream {name} missing") from None
            except NatsError as error:
                raise Failing(f"stream {name} unknown: {type(error).__name__}") from None

    return Check("streams", probe)


def blocking(name: str, question: Callable[[], object], timeout_s: float = CHECK_TIMEOUT_S) -> Check:
    """A check that asks a blocking question (a database's) in a worker thread."""

    async def probe() -> None:
        await in_thread(question)

    return Check(name, probe, timeout_s)


def quarantined(count: Callable[[], int]) -> Check:
    """The facts a follower set aside (`count`, asked in a worker thread): the check passes, since
    the follower moves on, and its detail says how many it set aside."""

    async def probe() -> str:
        return f"{await in_thread(count)} fact(s) set aside"

    return Check("quarantine", probe)
