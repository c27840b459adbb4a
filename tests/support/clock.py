"""A clock for the tests: it stands still until told to move, so a test moves time instead of
sleeping. It satisfies `services.feedback.clock.Clock`, as the service's `SystemClock` does."""

from __future__ import annotations

from datetime import datetime, timedelta


class FakeClock:
    """A clock that stands still until told to move (forwards or, for clock-jump tests, back)."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, by: timedelta) -> None:
        self.current += by
