"""A case's PHI sealed in feedback's store under the patient's data key, and opened to draft.

A case keeps the referral (ReferralReceived's data) and the consult summary (PatientSeen's) with
their PHI fields sealed (`referral_loop.store.patient_phi.seal`) under the data key the referral
store sealed the fact under (`Recorded.patient_key_id`), each box bound to its case and field:
once `referral-loop forget-patient` destroys the key, nothing of the patient in feedback's store
can be read. Facts recorded before sealing (no key id) are kept as they are.

Keys are read once per page and once per drafting batch (`PatientKeys` caches them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from contracts.events import ConsultSummary
from contracts.forgetting import STORED_CONTEXT
from contracts.referral import Referral
from referral_loop.store.follower import Recorded
from referral_loop.store.patient_keys import PatientKeys
from referral_loop.store.patient_phi import DataKey, open_sealed, seal, sealed_key
from services.feedback.case import FeedbackCase

REFERRAL, SUMMARY = "ReferralReceived", "PatientSeen"
"""What a case keeps sealed, named by the fact type it comes from (`PHI_FIELDS` says which fields)."""


@dataclass(frozen=True)
class Phi:
    """A case's referral and consult summary, opened: what a letter is drafted from."""

    referral: Referral
    summary: ConsultSummary | None


def page_keys(keys: PatientKeys, page: Sequence[Recorded]) -> dict[str, DataKey]:
    """The data keys the page's facts are sealed under, one lookup for all (mostly cached: the
    follower has just read them to open the facts)."""
    wanted = {r.patient_key_id for r in page if r.patient_key_id}
    return {key_id: DataKey(key_id, key) for key_id, key in keys.keys(wanted).items()}


def key_of(recorded: Recorded, keys: dict[str, DataKey]) -> DataKey | None:
    return keys.get(recorded.patient_key_id) if recorded.patient_key_id else None


def sealed(what: str, data: dict[str, Any], key: DataKey | None, referral_id: UUID) -> dict[str, Any]:
    """`data` with its PHI sealed under `key` (dropped if it was destroyed); as it is without one."""
    return data if key is None else seal(what, data, key, _bound_to(referral_id, what))


def open_phi(keys: PatientKeys, cases: Iterable[FeedbackCase]) -> dict[UUID, Phi | None]:
    """Each case's PHI opened (None: the patient was forgotten), their keys in one lookup."""
    chosen = list(cases)
    wanted = {k for case in chosen for data in _boxes(case) if (k := sealed_key(data))}
    found = keys.keys(wanted)
    return {case.id: opened(case, found) for case in chosen}


def opened(case: FeedbackCase, keys: dict[str, bytes | None]) -> Phi | None:
    referral, gone = _open(case.referral, REFERRAL, case.id, keys)
    summary, summary_gone = _open(case.summary, SUMMARY, case.id, keys) if case.summary else (None, False)
    if gone or summary_gone:
        return None
    summary_model = ConsultSummary.model_validate(summary, context=STORED_CONTEXT) if summary else None
    return Phi(Referral.model_validate(referral, context=STORED_CONTEXT), summary_model)


def _open(
    data: dict[str, Any], what: str, referral_id: UUID, keys: dict[str, bytes | None]
) -> tuple[Any, bool]:
    key_id = sealed_key(data)
    if key_id is None:
        return data, False
    return open_sealed(data, keys.get(key_id), _bound_to(referral_id, what))


def _boxes(case: FeedbackCase) -> list[dict[str, Any]]:
    return [case.referral, *([case.summary] if case.summary else [])]


def _bound_to(referral_id: UUID, what: str) -> str:
    """What a box is bound to (AES-GCM's associated data): it opens in its own case and field only."""
    return f"feedback:{referral_id}:{what}"
