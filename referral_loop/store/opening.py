"""Opening stored facts whose PHI is sealed: one key lookup for a whole page, then each fact.

A fact with PHI is kept with its PHI sealed under its patient's data key
(`referral_loop/store/patient_phi.py`). Opening it gives the fact whole again, validated by
contracts; once the patient was forgotten (the key destroyed), the fact with placeholders.
Facts without sealed fields are validated as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from contracts import Fact, fact_from_dict
from referral_loop.store.patient_keys import PatientKeys
from referral_loop.store.patient_phi import open_sealed, sealed_key

Opened = tuple[Fact, str | None]
"""A fact and the id of the patient data key its PHI was sealed under (None: none sealed)."""


def open_facts(
    keys: PatientKeys, stored: Sequence[dict[str, Any] | Fact], owned: bool = False
) -> list[Opened]:
    """Facts from their stored dicts (or already decoded Facts), their keys read in one query.
    `owned`: the dicts are the caller's own (freshly parsed): opened in place, not copied."""
    key_ids = {k for s in stored if isinstance(s, dict) and (k := sealed_key(s["data"]))}
    opened = keys.keys(key_ids) if key_ids else {}
    return [_open(s, opened, owned) for s in stored]


def _open(stored: dict[str, Any] | Fact, keys: dict[str, bytes | None], owned: bool) -> Opened:
    if isinstance(stored, Fact):
        return stored, None
    key_id = sealed_key(stored["data"])
    if key_id is None:
        return fact_from_dict(stored), None
    data, forgotten = open_sealed(stored["data"], keys.get(key_id), str(stored["event_id"]), in_place=owned)
    return fact_from_dict({**stored, "data": data}, forgotten=forgotten), key_id
