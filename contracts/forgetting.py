"""What a patient's erased details read as: fixed placeholders, valid only where a store says so.

After crypto-shredding (`referral-loop forget-patient`) the sealed details of a patient's facts
can no longer be opened. The store decodes such a fact with these placeholders in place of the
erased values, validated with `FORGOTTEN_CONTEXT`: only then is the placeholder birth date
accepted, so no submission can ever carry it.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Final

FORGOTTEN: Final = "[forgotten]"
"""Every erased text (names, MRN, member id, reasons, notes, the consult summary's text)."""
FORGOTTEN_BIRTH_DATE: Final = date(1, 1, 1)
"""An erased date of birth: a date no patient has, accepted only under FORGOTTEN_CONTEXT."""
STORED_CONTEXT: Final = {"stored": True}
"""Validating a fact already made (recorded by a store, or on its way there): only its shape and
the absolute bounds apply (`contracts.bounds`), never the checks against the present or reference
data, which the edge made; so a fact valid when recorded replays the same years later."""
FORGOTTEN_CONTEXT: Final = {"stored": True, "forgotten": True}


def validating_stored(context: Any) -> bool:
    """Whether a validation runs on a fact a store recorded (STORED_CONTEXT or FORGOTTEN_CONTEXT)."""
    return isinstance(context, dict) and context.get("stored") is True


def decoding_forgotten(context: Any) -> bool:
    """Whether a validation runs on a fact whose patient was forgotten."""
    return isinstance(context, dict) and context.get("forgotten") is True


def is_forgotten_name(given_name: str) -> bool:
    return given_name == FORGOTTEN
