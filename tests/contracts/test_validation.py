"""Field-level validation of a Referral: each bad value is reported on its field, saying what is wrong."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.fields import luhn_is_valid
from contracts.referral import Priority, Referral

VALID_NPIS = ("1234567893", "1245319599")
TODAY = date.today()


def referral_data() -> dict[str, Any]:
    """A valid referral as JSON-like data, as the API receives it."""
    return {
        "channel": "api",
        "patient": {
            "given_name": "Ada",
            "family_name": "Lovelace",
            "birth_date": "1980-04-02",
            "phone": "+1 555 010 0199",
        },
        "referring_provider": {"name": "Dr. Grace Hopper", "npi": VALID_NPIS[0]},
        "referring_clinic": {
            "name": "Harbor Family Medicine",
            "fax": "+15550100101",
            "report_email": "reports@harbor.example",
        },
        "requested_specialty": "cardiology",
        "reason": "Exertional chest pain, abnormal ECG.",
        "diagnosis_codes": ["R07.9", "I10"],
        "priority": "urgent",
    }


def with_value(loc: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """referral_data() with the value at `loc` (a path of keys and list indexes) replaced."""
    data = copy.deepcopy(referral_data())
    node: Any = data
    for key in loc[:-1]:
        node = node[key]
    node[loc[-1]] = value
    return data


def only_error(data: dict[str, Any]) -> dict[str, Any]:
    """The single validation error `data` raises as a Referral."""
    with pytest.raises(ValidationError) as caught:
        Referral.model_validate(data)
    errors = caught.value.errors()
    assert len(errors) == 1, errors
    return dict(errors[0])


def check_digit(first_nine: str) -> str:
    """An independent Luhn check digit for an NPI: over 80840 + the first nine digits."""
    payload = "80840" + first_nine
    total = 0
    for index, char in enumerate(reversed(payload)):
        doubled = int(char) * 2 if index % 2 == 0 else int(char)
        total += doubled // 10 + doubled % 10
    return str((10 - total % 10) % 10)


def test_a_valid_referral_passes() -> None:
    referral = Referral.model_validate(referral_data())
    assert referral.referring_provider.npi == VALID_NPIS[0]
    assert referral.priority is Priority.URGENT
    assert referral.patient.birth_date == date(1980, 4, 2)


@pytest.mark.parametrize("npi", VALID_NPIS)
def test_the_test_npis_carry_a_correct_check_digit(npi: str) -> None:
    assert npi[-1] == check_digit(npi[:9])
    assert luhn_is_valid("80840" + npi)
    assert Referral.model_validate(with_value(("referring_provider", "npi"), npi))


@pytest.mark.parametrize(
    ("loc", "value", "expected_loc", "message"),
    [
        pytest.param(
            ("referring_provider", "npi"),
            "1234567890",
            ("referring_provider", "npi"),
            "check digit is wrong",
            id="npi-check-digit",
        ),
        pytest.param(
            ("referring_provider", "npi"),
            "123456789",
            ("referring_provider", "npi"),
            "exactly 10 digits",
            id="npi-9-digits",
        ),
        pytest.param(
            ("referring_provider", "npi"),
            "12345678AB",
            ("referring_provider", "npi"),
            "exactly 10 digits",
            id="npi-letters",
        ),
        pytest.param(
            ("diagnosis_codes",),
            ["12345"],
            ("diagnosis_codes", 0),
            "ICD-10-CM code is a letter",
            id="icd-digits-only",
        ),
        pytest.param(
            ("diagnosis_codes",),
            ["I10", "I1"],
            ("diagnosis_codes", 1),
            "ICD-10-CM code is a letter",
            id="icd-too-short",
        ),
        pytest.param(
            ("diagnosis_codes",),
            ["I10"] * 13,
            ("diagnosis_codes",),
            "at most 12 items",
            id="icd-too-many",
        ),
        pytest.param(
            ("patient", "phone"),
            "555-0100",
            ("patient", "phone"),
            "not a complete phone number",
            id="phone-no-country-code",
        ),
        pytest.param(
            ("referring_clinic", "fax"),
            "+0 555 010 0101",
            ("referring_clinic", "fax"),
            "is not a phone number",
            id="fax-country-code-zero",
        ),
        pytest.param(
            ("patient", "birth_date"),
            (TODAY + timedelta(days=2)).isoformat(),
            ("patient", "birth_date"),
            "cannot be in the future",
            id="birth-date-future",
        ),
        pytest.param(
            ("patient", "birth_date"),
            (TODAY - timedelta(days=200 * 365)).isoformat(),
            ("patient", "birth_date"),
            "not plausible",
            id="birth-date-200-years-ago",
        ),
        pytest.param(
            ("referring_clinic", "report_email"),
            "reports-at-harbor.example",
            ("referring_clinic", "report_email"),
            "not a valid email address",
            id="bad-email",
        ),
        pytest.param(
            ("priority",),
            "whenever",
            ("priority",),
            "'routine', 'urgent', 'asap' or 'stat'",
            id="priority-outside-set",
        ),
        pytest.param(("reason",), "", ("reason",), "at least 1 character", id="empty-reason"),
        pytest.param(
            ("reason",),
            "   ",
            ("reason",),
            "at least 1 character",
            id="blank-reason",
        ),
        pytest.param(
            ("patient", "given_name"),
            "x" * 201,
            ("patient", "given_name"),
            "at most 200 characters",
            id="name-201-chars",
        ),
        pytest.param(
            ("favourite_colour",),
            "blue",
            ("favourite_colour",),
            "Extra inputs are not permitted",
            id="unknown-field",
        ),
        pytest.param(
            ("patient", "ssn"),
            "078-05-1120",
            ("patient", "ssn"),
            "Extra inputs are not permitted",
            id="unknown-nested-field",
        ),
    ],
)
def test_a_bad_value_is_reported_on_its_field(
    loc: tuple[str | int, ...], value: Any, expected_loc: tuple[str | int, ...], message: str
) -> None:
    error = only_error(with_value(loc, value))
    assert error["loc"] == expected_loc
    assert message in error["msg"]


@pytest.mark.parametrize(
    ("code", "normalised"),
    [("e119", "E11.9"), ("E119", "E11.9"), (" i10 ", "I10"), ("s72001a", "S72.001A"), ("Z00.00", "Z00.00")],
)
def test_icd10_codes_are_normalised(code: str, normalised: str) -> None:
    referral = Referral.model_validate(with_value(("diagnosis_codes",), [code]))
    assert referral.diagnosis_codes == [normalised]


def test_phone_numbers_are_compacted_to_e164() -> None:
    referral = Referral.model_validate(with_value(("patient", "phone"), "+1 (555) 010-0199"))
    assert referral.patient.phone == "+15550100199"


def test_a_referral_is_immutable() -> None:
    referral = Referral.model_validate(referral_data())
    with pytest.raises(ValidationError, match="frozen"):
        referral.reason = "changed"  # type: ignore[misc]
