"""When the consult report is due, and when to raise the alarm.

Due: the patient's return visit to the referring provider (start of that day, practice time)
minus a margin; with no return visit known, the visit plus N business days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from referral_loop.settings import Settings


@dataclass(frozen=True)
class DeadlinePolicy:
    timezone: ZoneInfo
    margin: timedelta
    default_business_days: int
    warning: timedelta

    def report_due(self, seen_at: datetime, return_visit_on: date | None) -> datetime:
        if return_visit_on is not None:
            return datetime.combine(return_visit_on, time(0), self.timezone) - self.margin
        return add_business_days(seen_at.astimezone(self.timezone), self.default_business_days)

    def reached(self, due_at: datetime, now: datetime) -> list[str]:
        """The deadline reached by `now`: 'overdue' from the due time on, 'due_soon' from `warning`
        before it until then, none before. Never both: once the due time has passed, 'due soon'
        is no news (a watch that missed it fires only 'overdue')."""
        if now >= due_at:
            return ["overdue"]
        if now >= due_at - self.warning:
            return ["due_soon"]
        return []


def add_business_days(moment: datetime, days: int) -> datetime:
    """`days` working days (Monday to Friday) after `moment`, same time of day."""
    result = moment
    while days > 0:
        result += timedelta(days=1)
        if result.weekday() < 5:
            days -= 1
    return result


def deadline_policy(settings: Settings) -> DeadlinePolicy:
    return DeadlinePolicy(
        timezone=ZoneInfo(settings.practice_timezone),
        margin=timedelta(hours=settings.report_margin_hours),
        default_business_days=settings.report_default_business_days,
        warning=timedelta(hours=settings.report_warning_hours),
    )
