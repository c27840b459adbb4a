"""Opening stored facts whose PHI is sealed: one key lookup for a whole page, then each fact.

A fact with PHI is kept with its PHI sealed under its patient's data key
(`referral_loop/store/patient_phi.py`). Opening it gives the fact whole again, validated by
contracts; once the patient was forgotten (the key destroyed), the fact with placeholders.
Facts without sealed fields are validated as they are. `open_readable` answers, in place of a
fact that cannot be opened or validated, the error it raised (`quarantine.caused_by_fact`): a
follower sets that fact aside instead of stopping on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from contracts import Fact, fact_from_dict
from referral_loop.store.patient_keys import PatientKeys
from referral_loop.store.patient_phi import open_sealed, sealed_key
from referral_loop.store.quarantine import caused_by_fact

Opened = tuple[Fact, str | None]
"""A fact and the id of the patient data key its PHI was sealed under (None: none sealed)."""
Stored = dict[str, Any] | Fact


def open_facts(keys: PatientKeys, stored: Sequence[Stored], owned: bool = False) -> list[Opened]:
    """Facts from their stored dicts (or already decoded Facts), their keys read in one query.
    `owned`: the dicts are the caller's own (freshly parsed): opened in place, not copied."""
    opened = open_readable(keys, stored, owned)
    for item in opened:
        if isinstance(item, Exception):
            raise item
    return [item for item in opened if not isinstance(item, Exception)]


def open_readable(
    keys: PatientKeys, stored: Sequence[Stored | Exception], owned: bool = False
) -> list[Opened | Exception]:
    """As `open_facts`, but a fact that cannot be opened or validated gives the error it raised
    (errors given stay as they are); an error of the key store itself is raised."""
    key_ids = {k for s in stored if isinstance(s, dict) and (k := _key_id(s))}
    opened = keys.keys(key_ids) if key_ids else {}
    return [s if isinstance(s, Exception) else _readable(s, opened, owned) for s in stored]


def _readable(stored: Stored, keys: dict[str, bytes | None], owned: bool) -> Opened | Exception:
    try:
        return _open(stored, keys, owned)
    except Exception as error:
        if not caused_by_fact(error):
            raise
        return error


def _key_id(stored: dict[str, Any]) -> str | None:
    try:
        return sealed_key(stored["data"])
    except (KeyError, TypeError, AttributeError):
        return None  # not a fact: `_open` says why


def _open(stored: dict[str, Any] | Fact, keys: dict[str, bytes | None], owned: bool) -> Opened:
    if isinstance(stored, Fact):
        return stored, None
    key_id = sealed_key(stored["data"])
    if key_id is None:
        return fact_from_dict(stored), None
    data, forgotten = open_sealed(stored["data"], keys.get(key_id), str(stored["event_id"]), in_place=owned)
    return fact_from_dict({**stored, "data": data}, forgotten=forgotten), key_id
