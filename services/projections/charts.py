"""Charts as inline SVG drawn on the server: no JavaScript, no external assets, readable offline.

Each bar carries its exact number twice: in a <title> (shown on hover, read by tests) and in
data-month / data-key / data-count attributes. Presentation attributes only (no style=), so the
page's Content-Security-Policy needs no inline styles. The table under the chart has the same data.
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#8C8C8C"]
LEFT, RIGHT, TOP, PLOT, BOTTOM, LEGEND_ROW, GAP = 56, 16, 16, 220, 56, 20, 12
WIDTH = 760
"""About how wide the plot is drawn: each month gets an equal share, between 36 and 120 pixels."""


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    counts: dict[str, int]


@dataclass(frozen=True)
class Frame:
    months: list[str]
    series: list[Series]
    ceiling: int
    step: int

    @property
    def group(self) -> int:
        return max(36, min(120, WIDTH // max(len(self.months), 1)))

    @property
    def bar(self) -> float:
        return min(18.0, (self.group - GAP) / max(len(self.series), 1))

    @property
    def width(self) -> int:
        return LEFT + len(self.months) * self.group + RIGHT

    @property
    def height(self) -> int:
        return TOP + PLOT + BOTTOM + len(self.series) * LEGEND_ROW + 8

    def y(self, value: float) -> float:
        return TOP + PLOT - PLOT * value / self.ceiling


def nice_scale(largest: int) -> tuple[int, int]:
    """The axis top and tick step: at most five ticks of 1, 2 or 5 times a power of ten."""
    step = 1
    while math.ceil(max(largest, 1) / step) > 5:
        step = next(s * 10**e for e in range(9) for s in (1, 2, 5) if s * 10**e > step)
    return step * math.ceil(max(largest, 1) / step), step


def month_label(month: str) -> str:
    return calendar.month_abbr[int(month[5:])]


def bar_chart(months: list[str], series: list[Series], description: str) -> Markup:
    """Grouped bars: one group per month, one bar per series, an axis, month labels and a legend."""
    largest = max((n for s in series for n in s.counts.values()), default=0)
    frame = Frame(months, series, *nice_scale(largest))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="{escape(description)}" '
        f'viewBox="0 0 {frame.width} {frame.height}" width="{frame.width}" height="{frame.height}">',
        f"<title>{escape(description)}</title>",
        *y_axis(frame),
        *bars(frame),
        *x_axis(frame),
        *legend(frame),
        "</svg>",
    ]
    return Markup("\n".join(parts))  # noqa: S704 - every text in it went through escape()


def y_axis(frame: Frame) -> list[str]:
    lines = []
    for tick in range(0, frame.ceiling + 1, frame.step):
        y = frame.y(tick)
        lines.append(
            f'<line x1="{LEFT}" x2="{frame.width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d7de"/>'
        )
        lines.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="12">{tick}</text>')
    middle = TOP + PLOT / 2
    lines.append(
        f'<text x="14" y="{middle}" transform="rotate(-90 14 {middle})" text-anchor="middle" '
        'font-size="12">Referrals per month</text>'
    )
    return lines


def bars(frame: Frame) -> list[str]:
    rects = []
    for i, month in enumerate(frame.months):
        start = LEFT + i * frame.group + (frame.group - len(frame.series) * frame.bar) / 2
        for j, s in enumerate(frame.series):
            count = s.counts.get(month, 0)
            y = frame.y(count)
            rects.append(
                f'<rect class="bar" x="{start + j * frame.bar:.1f}" y="{y:.1f}" width="{frame.bar - 1:.1f}" '
                f'height="{TOP + PLOT - y:.1f}" fill="{PALETTE[j % len(PALETTE)]}" '
                f'data-month="{month}" data-key="{escape(s.key)}" data-count="{count}">'
                f"<title>{escape(s.label)}, {month_label(month)} {month[:4]}: {count}</title></rect>"
            )
    return rects


def x_axis(frame: Frame) -> list[str]:
    base = TOP + PLOT
    lines = [f'<line x1="{LEFT}" x2="{frame.width - RIGHT}" y1="{base}" y2="{base}" stroke="#1b1f23"/>']
    for i, month in enumerate(frame.months):
        x = LEFT + i * frame.group + frame.group / 2
        year = f'<tspan x="{x}" dy="14">{month[:4]}</tspan>' if i == 0 or month.endswith("-01") else ""
        lines.append(
            f'<text x="{x}" y="{base + 16}" text-anchor="middle" font-size="12">{month_label(month)}{year}</text>'
        )
    lines.append(
        f'<text x="{LEFT + (frame.width - LEFT) / 2}" y="{base + 48}" text-anchor="middle" '
        'font-size="12">Month referred</text>'
    )
    return lines


def legend(frame: Frame) -> list[str]:
    items = []
    for j, s in enumerate(frame.series):
        y = TOP + PLOT + BOTTOM + j * LEGEND_ROW
        items.append(
            f'<g class="legend-item" data-key="{escape(s.key)}"><rect x="{LEFT}" y="{y}" width="12" height="12" '
            f'fill="{PALETTE[j % len(PALETTE)]}"/><text x="{LEFT + 18}" y="{y + 11}" font-size="12">'
            f"{escape(s.label)}</text></g>"
        )
    return items
