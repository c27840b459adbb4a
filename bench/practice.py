"""The referring side of the benchmark's practice: offices, their providers, what they refer.

Offices differ in size (a few send most referrals), in specialty mix, payers and priority; a
referral's body is validated by `contracts` exactly as intake validates one.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import date, timedelta

from contracts.fields import luhn_is_valid
from contracts.referral import Referral

SPECIALTIES: dict[str, list[str]] = {
    "cardiology": ["I10", "R07.9", "I48.91", "I25.10"],
    "dermatology": ["L40.0", "L70.0", "D22.5"],
    "neurology": ["G43.909", "G40.909", "R51.9"],
    "oncology": ["C50.911", "D49.2", "C61"],
    "orthopedics": ["M17.11", "M54.50", "S83.511A"],
    "gastroenterology": ["K21.9", "K58.9", "R10.9"],
    "endocrinology": ["E11.9", "E03.9", "E66.9"],
    "pulmonology": ["J45.909", "J44.9", "R06.02"],
}
PAYERS = ["Acme Health", "Blue Shield", "Medicare", "Medicaid", "United Care", "Cigna Plus"]
PRIORITIES, PRIORITY_WEIGHTS = ["routine", "urgent", "asap", "stat"], [70, 20, 7, 3]
CHANNELS = ["api", "web_form", "fax", "e_referral", "portal", "phone"]
GIVEN = ["Ada", "Ben", "Cleo", "Dev", "Eva", "Finn", "Gia", "Hugo", "Iris", "Jon", "Kai", "Lena"]
FAMILY = ["Alder", "Brook", "Cole", "Dale", "Ellis", "Frost", "Gray", "Hale", "Irwin", "Jade", "Knox"]


@dataclass(frozen=True)
class Office:
    name: str
    report_email: str | None
    providers: list[dict[str, str]]
    specialties: list[str]


def npi(rng: random.Random) -> str:
    """A random National Provider Identifier with a valid check digit."""
    stem = f"{rng.randrange(10**8, 10**9):09d}"
    return next(f"{stem}{d}" for d in range(10) if luhn_is_valid(f"80840{stem}{d}"))


def offices(rng: random.Random, n: int) -> tuple[list[Office], list[float]]:
    """n offices and their cumulative weights: a long tail, the largest ~20x the median."""
    found = []
    for i in range(n):
        providers = [
            {"name": f"Dr. {rng.choice(GIVEN)} {rng.choice(FAMILY)} {i}-{p}", "npi": npi(rng)}
            for p in range(rng.randint(1, 5))
        ]
        email = f"reports@office{i}.example" if rng.random() < 0.95 else None
        found.append(
            Office(f"Office {i} Family Medicine", email, providers, rng.sample(list(SPECIALTIES), 3))
        )
    weights = [1.0 / (rank + 5) for rank in range(n)]
    return found, list(itertools.accumulate(weights))


def referral(rng: random.Random, office: Office) -> Referral:
    """What an office sends for one patient, validated like intake validates it."""
    specialty = rng.choice(office.specialties)
    payer = rng.choice(PAYERS) if rng.random() < 0.92 else None
    codes = rng.sample(SPECIALTIES[specialty], rng.randint(0, 2))
    body = {
        "channel": rng.choice(CHANNELS),
        "external_reference": f"REF-{rng.randrange(10**6)}",
        "patient": {
            "given_name": rng.choice(GIVEN),
            "family_name": f"{rng.choice(FAMILY)}{rng.randrange(1000)}",
            "birth_date": (date(1935, 1, 1) + timedelta(days=rng.randrange(30_000))).isoformat(),
            "phone": f"+1555{rng.randrange(10**7):07d}",
            "insurance": {"payer": payer, "member_id": f"M-{rng.randrange(10**8)}"} if payer else None,
        },
        "referring_provider": rng.choice(office.providers),
        "referring_clinic": {"name": office.name, "report_email": office.report_email},
        "requested_specialty": specialty,
        "reason": "Referred for evaluation and management.",
        "diagnosis_codes": codes,
        "priority": rng.choices(PRIORITIES, PRIORITY_WEIGHTS)[0],
    }
    return Referral.model_validate(body)
