"""Restart with backoff: how `make run` keeps its processes (nats-server and the services) up.

A process that exits on its own is started again after a wait that doubles with each failure in
a row (`first_delay_s`, 2x, 4x ... up to `max_delay_s`), and the terminal is told each time. A
process that stayed up `stable_s` before it died starts a new count. One that dies more than
`limit` times in a row keeps failing: `check` raises `KeepsFailing`, and the launcher stops
everything and exits non-zero.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class Supervised(Protocol):
    """A process the supervisor can start, look at and stop."""

    @property
    def name(self) -> str: ...

    def start(self) -> None: ...

    def exit_code(self) -> int | None:
        """None while it runs."""

    def stop(self) -> int | None: ...


class KeepsFailing(RuntimeError):
    """A process died more times in a row than the policy allows."""


@dataclass(frozen=True)
class RestartPolicy:
    limit: int = 5
    """Restarts in a row (each after a death within `stable_s` of its start) before giving up."""
    first_delay_s: float = 0.5
    max_delay_s: float = 30.0
    stable_s: float = 60.0

    def delay(self, failures: int) -> float:
        """The wait before restart number `failures` (1, 2, ...)."""
        return float(min(self.max_delay_s, self.first_delay_s * 2 ** (failures - 1)))


@dataclass
class _Watched:
    process: Supervised
    started_at: float
    failures: int = 0
    restart_at: float | None = None


class Supervisor:
    """Starts processes, restarts those that die (`check`, called often), stops them all."""

    def __init__(
        self,
        policy: RestartPolicy,
        say: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy, self.say, self.clock = policy, say, clock
        self.watched: list[_Watched] = []

    def start(self, process: Supervised) -> None:
        process.start()
        self.watched.append(_Watched(process, self.clock()))

    def check(self) -> None:
        """Notice deaths and schedule restarts; start those whose wait is over."""
        now = self.clock()
        for watched in self.watched:
            if watched.restart_at is not None:
                if now >= watched.restart_at:
                    self._restart(watched, now)
            elif (code := watched.process.exit_code()) is not None:
                self._died(watched, code, now)

    def _died(self, watched: _Watched, code: int, now: float) -> None:
        name = watched.process.name
        if now - watched.started_at >= self.policy.stable_s:
            watched.failures = 0
        watched.failures += 1
        if watched.failures > self.policy.limit:
            raise KeepsFailing(
                f"{name} exited with code {code}, {watched.failures} times in a row; giving up"
            )
        delay = self.policy.delay(watched.failures)
        watched.restart_at = now + delay
        self.say(
            f"{name} exited with code {code}; restarting it in {delay:.1f} s "
            f"(restart {watched.failures} of at most {self.policy.limit} in a row)"
        )

    def _restart(self, watched: _Watched, now: float) -> None:
        watched.restart_at, watched.started_at = None, now
        watched.process.start()
        self.say(f"restarted {watched.process.name}")

    def stop_all(self) -> None:
        """Stop every process, the last started first, and say how each ended."""
        for watched in reversed(self.watched):
            code = watched.process.stop()
            self.say(f"stopped {watched.process.name} (exit code {code})")
