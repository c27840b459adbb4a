"""The benchmark's results: samples per quantity over the repeats, each stage's ratio to its
ceiling, the issue's targets met or missed, and the markdown table of all of it."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

RATIOS: list[tuple[str, str, list[str]]] = [
    # (stage, what it is compared with: the slowest of these ceilings)
    (
        "store stage",
        "store stage: publish_many",
        ["ceiling: JetStream publish+ack, publish_async", "ceiling: store append"],
    ),
    ("lifecycle flood: facts recorded", "lifecycle flood: facts recorded", ["store stage: publish_many"]),
    ("HTTP intake alone", "HTTP intake alone", ["ceiling: JetStream publish+ack, gathered"]),
    (
        "HTTP intake in the whole stack",
        "HTTP intake in the whole",
        ["ceiling: JetStream publish+ack, gathered"],
    ),
    ("feedback emails", "lifecycle flood: emails accepted", ["ceiling: SMTP send, 4 connections"]),
    ("rebuild", "rebuild: facts into the views", ["ceiling: store read"]),
]

TARGETS: list[tuple[str, str, str, float]] = [
    # (target, quantity, "min" or "max", bound)
    ("store stage >= 0.7 of its ceiling", "ratio:store stage", "min", 0.7),
    ("store stage >= 4,000 facts/s", "store stage: publish_many", "min", 4000),
    ("HTTP intake >= 1,000 referrals/s", "HTTP intake alone", "min", 1000),
    (
        "PatientSeen -> SMTP p99 <= 50 ms at 100 reports/s",
        "PatientSeen -> SMTP accepted p99, at 100",
        "max",
        50,
    ),
    ("projection lag p99 <= 100 ms at 1,000 facts/s", "projection lag p99, at 1,000", "max", 100),
    ("rebuild >= 25,000 facts/s", "rebuild: facts into the views", "min", 25000),
    ("volume query p95 <= 20 ms", "volume query p95", "max", 20),
]


@dataclass
class Results:
    samples: dict[str, list[float]] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, unit: str, value: float) -> None:
        self.samples.setdefault(name, []).append(float(value))
        self.units[name] = unit
        print(f"  {name}: {value:,.1f} {unit}", flush=True)

    def median(self, prefix: str) -> float | None:
        """The median of the first quantity whose name starts with `prefix` (None if none)."""
        if prefix.startswith("ratio:"):
            return self.ratios().get(prefix.removeprefix("ratio:"))
        name = next((n for n in self.samples if n.startswith(prefix)), None)
        return statistics.median(self.samples[name]) if name else None

    def summaries(self) -> list[dict[str, Any]]:
        return [
            {
                "name": n,
                "unit": self.units[n],
                "median": statistics.median(s),
                "min": min(s),
                "max": max(s),
                "samples": s,
            }
            for n, s in self.samples.items()
        ]

    def ratios(self) -> dict[str, float]:
        found = {}
        for stage, quantity, ceilings in RATIOS:
            value, bounds = self.median(quantity), [self.median(c) for c in ceilings]
            if value is not None and all(b for b in bounds):
                found[stage] = value / min(b for b in bounds if b)
        return found

    def targets(self) -> list[dict[str, Any]]:
        found = []
        for target, quantity, kind, bound in TARGETS:
            value = self.median(quantity)
            met = value is not None and (value >= bound if kind == "min" else value <= bound)
            found.append({"target": target, "measured": value, "met": met})
        return found


def markdown(results: Results) -> str:
    lines = ["| measurement | median | min - max | unit |", "|---|---:|---:|---|"]
    for s in results.summaries():
        lines.append(
            f"| {s['name']} | {s['median']:,.1f} | {s['min']:,.1f} - {s['max']:,.1f} | {s['unit']} |"
        )
    lines += ["", "| stage | ratio to its ceiling (medians) |", "|---|---:|"]
    lines += [f"| {stage} | {ratio:.2f} |" for stage, ratio in results.ratios().items()]
    lines += ["", "| target | measured (median) | met |", "|---|---:|---|"]
    for t in results.targets():
        measured = "-" if t["measured"] is None else f"{t['measured']:,.2f}"
        lines.append(f"| {t['target']} | {measured} | {'yes' if t['met'] else 'no'} |")
    return "\n".join(lines)
