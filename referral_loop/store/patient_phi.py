"""A fact's PHI sealed under its patient's data key, so that destroying the key erases it.

Which fields are PHI is fixed per fact type (`PHI_FIELDS`): the patient's identifiers (names,
date of birth, phone, MRN, insurance member id), the referring office's own reference, the
attachments, and every free text about the patient (reasons, notes, the consult summary). What
stays readable is what the read models count by and is not identifying without those: clinic,
provider, specialty, ICD-10-CM codes, payer, sex, priority, channel and the lifecycle's dates.

A sealed `data` keeps its other fields and gains `sealed`: the data key's id, the sealed fields'
paths, and `box`, AES-256-GCM of their values as JSON, bound to the fact's event id. Opening with
the key gives the data back whole; with the key destroyed, each sealed path reads as
`contracts.forgetting`'s placeholder.
"""

from __future__ import annotations

import json
import os
from base64 import b64decode, b64encode
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from contracts.forgetting import FORGOTTEN, FORGOTTEN_BIRTH_DATE

Path = tuple[str, ...]
TEXT_ON_REASONS: tuple[Path, ...] = (("reason",),)
PHI_FIELDS: dict[str, tuple[Path, ...]] = {
    "ReferralReceived": (
        ("patient", "given_name"),
        ("patient", "family_name"),
        ("patient", "birth_date"),
        ("patient", "phone"),
        ("patient", "mrn"),
        ("patient", "insurance", "member_id"),
        ("external_reference",),
        ("reason",),
        ("attachments",),
    ),
    "ReferralAccepted": (("note",),),
    "ReferralDeclined": TEXT_ON_REASONS,
    "ReferralCancelled": TEXT_ON_REASONS,
    "AppointmentCancelled": TEXT_ON_REASONS,
    "PatientSeen": (("findings",), ("assessment",), ("plan",), ("recommendations",)),
}
PLACEHOLDERS: dict[Path, Any] = {
    ("patient", "birth_date"): FORGOTTEN_BIRTH_DATE.isoformat(),
    ("patient", "phone"): None,
    ("attachments",): [],
}
SEALED = "sealed"


class DataKey(NamedTuple):
    """A patient's data key: its id (a random UUID, kept with the facts) and the key itself,
    None once destroyed."""

    key_id: str
    key: bytes | None


def has_phi(fact_type: str) -> bool:
    return fact_type in PHI_FIELDS


def seal(fact_type: str, data: dict[str, Any], key: DataKey, bound_to: str) -> dict[str, Any]:
    """`data` with its PHI fields sealed under `key` (dropped, if the key was destroyed)."""
    sealed = _copy_along(data, PHI_FIELDS.get(fact_type, ()))
    values = {".".join(p): v for p in PHI_FIELDS.get(fact_type, ()) if (v := _pop(sealed, p)) is not None}
    box = None if key.key is None else _encrypt(key, json.dumps(values), bound_to)
    sealed[SEALED] = {"key": key.key_id, "paths": sorted(values), "box": box}
    return sealed


def sealed_key(data: dict[str, Any]) -> str | None:
    """The id of the data key `data` was sealed under, or None if it holds no sealed fields."""
    sealed = data.get(SEALED)
    return sealed["key"] if isinstance(sealed, dict) else None


def open_sealed(
    data: dict[str, Any], key: bytes | None, bound_to: str, in_place: bool = False
) -> tuple[dict[str, Any], bool]:
    """`data` whole again and False; or, when the key is gone, with placeholders and True.
    `in_place`: `data` is the caller's own (freshly parsed) and may be changed, not copied."""
    sealed = data[SEALED]
    paths = [tuple(p.split(".")) for p in sealed["paths"]]
    opened = data if in_place else _copy_along(data, paths)
    del opened[SEALED]
    forgotten = key is None or sealed["box"] is None
    if forgotten:
        values = {p: PLACEHOLDERS.get(p, FORGOTTEN) for p in paths}
    else:
        clear = json.loads(_decrypt(key, sealed["key"], sealed["box"], bound_to))  # type: ignore[arg-type]
        values = {p: clear[".".join(p)] for p in paths}
    for path, value in values.items():
        _put(opened, path, value)
    return opened, forgotten


def _encrypt(key: DataKey, text: str, bound_to: str) -> str:
    assert key.key is not None
    nonce = os.urandom(12)
    aad = f"{key.key_id}|{bound_to}".encode()
    return b64encode(nonce + AESGCM(key.key).encrypt(nonce, text.encode(), aad)).decode()


def _decrypt(key: bytes, key_id: str, box: str, bound_to: str) -> str:
    blob = b64decode(box)
    return AESGCM(key).decrypt(blob[:12], blob[12:], f"{key_id}|{bound_to}".encode()).decode()


def _copy_along(data: dict[str, Any], paths: tuple[Path, ...] | list[Path]) -> dict[str, Any]:
    """A copy of `data` in which every dict on these paths is a copy (the input stays untouched)."""
    copied = dict(data)
    for path in paths:
        node = copied
        for step in path[:-1]:
            if not isinstance(node.get(step), dict):
                break
            node[step] = dict(node[step])
            node = node[step]
    return copied


def _pop(data: dict[str, Any], path: Path) -> Any:
    node: Any = data
    for step in path[:-1]:
        node = node.get(step) if isinstance(node, dict) else None
    if not isinstance(node, dict) or path[-1] not in node:
        return None
    value = node[path[-1]]
    if value is None or value == []:
        return None
    del node[path[-1]]
    return value


def _put(data: dict[str, Any], path: Path, value: Any) -> None:
    node = data
    for step in path[:-1]:
        node = node.setdefault(step, {})
    node[path[-1]] = value
