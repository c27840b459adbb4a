"""What the read-model queries answer: the shapes the API, CSV, CLI and dashboard all show."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class Dimension(StrEnum):
    TOTAL = "total"
    CLINIC = "clinic"
    PROVIDER = "provider"
    SPECIALTY = "specialty"
    REASON = "reason"
    PAYER = "payer"
    PRIORITY = "priority"


class VolumeFilter(BaseModel):
    """Which referrals a volume or KPI query looks at. Months are 'YYYY-MM', inclusive."""

    first_month: str
    last_month: str
    clinic: str | None = None
    provider_npi: str | None = None
    specialty: str | None = None
    as_of: datetime | None = Field(None, description="Only what the store knew at this moment (recorded_at).")


class VolumeRow(BaseModel):
    key: str
    label: str
    months: dict[str, int] = Field(
        description="Referrals per month, every month of the range, zeros included."
    )
    total: int
    previous_year: dict[str, int] = Field(description="The same months one year earlier.")
    previous_year_total: int


class VolumeReport(BaseModel):
    dimension: Dimension
    months: list[str]
    rows: list[VolumeRow]
    totals: dict[str, int] = Field(
        description="All referrals per month (every row summed, not only this page)."
    )
    total_rows: int
    offset: int
    limit: int


class TrendStatus(StrEnum):
    NEW = "new"
    GROWING = "growing"
    STEADY = "steady"
    DECLINING = "declining"
    LAPSED = "lapsed"


class Misses(BaseModel):
    """The practice's own misses for a referrer in the period: reasons a referrer may drift away."""

    late_reports: int
    slow_bookings: int
    no_shows: int


class Trend(BaseModel):
    key: str
    label: str
    month: str
    count: int
    baseline: float = Field(description="Average per month over the trailing window before `month`.")
    status: TrendStatus
    explanation: str = Field(
        description='e.g. "3 referrals in October 2026 against a 6-month average of 9.5"'
    )
    misses: Misses


class WorkItem(BaseModel):
    referral_id: str
    patient_name: str
    clinic: str
    provider_name: str
    specialty: str
    priority: str
    status: str
    received_at: datetime
    age_days: float
    appointment_at: datetime | None = None
    seen_at: datetime | None = None
    report_due_at: datetime | None = None
    report_sent_at: datetime | None = None


class Worklists(BaseModel):
    to_schedule: list[WorkItem]
    scheduled: list[WorkItem]
    awaiting_report: list[WorkItem]
    overdue: list[WorkItem]
    closed: list[WorkItem]


class Kpis(BaseModel):
    """Loop KPIs for one month (by referral received month), practice-wide or for one office."""

    month: str
    clinic: str | None
    referrals: int
    scheduled: int
    lead_time_days_median: float | None
    lead_time_days_p90: float | None
    no_show_rate: float | None
    reports_sent: int
    visit_to_report_days_median: float | None
    reports_before_return_visit_share: float | None


class Cms50(BaseModel):
    """CMS50 (MIPS 374) closure: patients referred 1 Jan - 31 Oct, first referral only, report by year end."""

    year: int
    clinic: str | None
    denominator: int
    numerator: int
    rate: float | None
    as_of: date | None = None


class Scorecard(BaseModel):
    """A referring office's scorecard over a window: how well the practice closes its loop."""

    clinic: str
    label: str
    referrals: int
    lead_time_days_median: float | None
    visit_to_report_days_median: float | None
    reports_before_return_visit_share: float | None
    loop_closure_rate: float | None = Field(description="CMS50 rate for the window's last year.")
