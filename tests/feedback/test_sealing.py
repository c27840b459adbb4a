"""A case's sealed PHI: opened only with its key, only in its own case."""

from __future__ import annotations

import os
from typing import Any
from uuid import UUID, uuid4

import pytest
from cryptography.exceptions import InvalidTag

from referral_loop.store.patient_phi import DataKey
from services.feedback.case import FeedbackCase
from services.feedback.sealing import REFERRAL, open_phi, sealed
from tests.support import referrals as make


class Keys:
    """Data keys as `PatientKeys.keys` gives them."""

    def __init__(self, found: dict[str, bytes | None]) -> None:
        self.found = found

    def keys(self, key_ids: set[str]) -> dict[str, bytes | None]:
        return {k: self.found.get(k) for k in key_ids}


def case_with(referral: dict[str, Any], rid: UUID) -> FeedbackCase:
    return FeedbackCase(str(rid), referral, "2026-11-22T12:00:00+00:00", 1)


def test_a_sealed_referral_opens_with_its_key_in_its_own_case_only() -> None:
    key, rid = DataKey(str(uuid4()), os.urandom(32)), uuid4()
    referral = make.received(rid).model_dump(mode="json")["data"]
    box = sealed(REFERRAL, referral, key, rid)
    assert "Lovelace" not in str(box) and box["referring_clinic"] == referral["referring_clinic"]
    keys: Any = Keys({key.key_id: key.key})
    phi = open_phi(keys, [case_with(box, rid)])[rid]
    assert phi is not None and phi.referral.patient.family_name == "Lovelace"
    with pytest.raises(InvalidTag):  # bound to its case: moved to another, it does not open
        open_phi(keys, [case_with(box, uuid4())])
    assert open_phi(Keys({key.key_id: None}), [case_with(box, rid)]) == {rid: None}  # type: ignore[arg-type]
