"""Time, injectable: the service asks a clock, and tests move a fake one instead of sleeping
(`tests/support/clock.FakeClock`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
