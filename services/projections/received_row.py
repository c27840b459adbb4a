"""The `referral_view` row a ReferralReceived starts, and the volume counters it adds to.

A patient is grouped across referrals (`patient_key`) by the id of the data key the store sealed
their details under: the same for all their referrals, and still there once they are forgotten.
Referrals recorded before the store had data keys fall back to a digest of name and birth date.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

from contracts.events import ReferralReceived
from contracts.forgetting import FORGOTTEN, is_forgotten_name
from contracts.referral import Patient
from services.projections.icd10 import chapter
from services.projections.schema import stamp


def referral_row(
    fact: ReferralReceived, referral_id: str, recorded: str, patient_key_id: str | None
) -> dict[str, Any]:
    """`patient_key_id`: the id of the data key the store sealed the patient's details under."""
    data = fact.data
    return {
        "referral_id": referral_id,
        **patient_columns(data.patient, patient_key_id),
        "clinic_key": (data.referring_clinic.report_email or data.referring_clinic.name).strip().lower(),
        "clinic": data.referring_clinic.name,
        "provider_npi": data.referring_provider.npi,
        "provider_name": data.referring_provider.name,
        "specialty": data.requested_specialty.strip().lower(),
        "reason_chapter": chapter(data.diagnosis_codes[0] if data.diagnosis_codes else None),
        "payer": data.patient.insurance.payer if data.patient.insurance else "Self-pay or unknown",
        "priority": data.priority.value,
        "channel": data.channel.value,
        "month": fact.occurred_at.strftime("%Y-%m"),
        "received_at": stamp(fact.occurred_at),
        "received_recorded_at": recorded,
        "status": "received",
        "no_shows": 0,
        "return_visit_on": data.return_visit_on.isoformat() if data.return_visit_on else None,
        "updated_at": recorded,
    }


def dimensions(row: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        ("total", "all", "All referrals"),
        ("clinic", row["clinic_key"], row["clinic"]),
        ("provider", row["provider_npi"], row["provider_name"]),
        ("specialty", row["specialty"], row["specialty"]),
        ("reason", row["reason_chapter"], row["reason_chapter"]),
        ("payer", row["payer"].strip().lower(), row["payer"]),
        ("priority", row["priority"], row["priority"]),
    ]


def patient_columns(patient: Patient, patient_key_id: str | None) -> dict[str, str]:
    """The patient's key and name, in clear (`sealing.Sealer.seal_row` seals them); a forgotten
    patient's name is the placeholder once, not once per name."""
    forgotten = is_forgotten_name(patient.given_name)
    name = FORGOTTEN if forgotten else f"{patient.given_name} {patient.family_name}"
    key = patient_key_id or patient_key(patient.given_name, patient.family_name, patient.birth_date)
    return {"patient_key": key, "patient_name": name}


def patient_key(given: str, family: str, birth_date: date) -> str:
    """The same patient across referrals the store recorded without a data key (CMS50 counts a
    patient's first referral only)."""
    text = f"{given.strip().lower()}|{family.strip().lower()}|{birth_date.isoformat()}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]
