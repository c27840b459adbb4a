"""Validated field types shared by every event: NPI, ICD-10-CM, E.164 phones, bounded text.

Each type fails with a message that says what is wrong, so an API or form error can name
the field and the fix.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, StringConstraints, ValidationInfo, WithJsonSchema
from pydantic.networks import validate_email

from contracts.forgetting import FORGOTTEN_BIRTH_DATE, decoding_forgotten

SHORT_TEXT = 200
LONG_TEXT = 4000
MAX_AGE_YEARS = 130

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=SHORT_TEXT)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=LONG_TEXT)]
EMAIL_MAX = 254

_ICD10_CM = re.compile(r"^[A-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def luhn_is_valid(digits: str) -> bool:
    """The Luhn check over a string of digits (its last digit is the check digit)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def check_npi(value: str) -> str:
    """A National Provider Identifier: 10 digits, the last a Luhn check over 80840 + the first 9."""
    if not re.fullmatch(r"[0-9]{10}", value):
        raise ValueError("an NPI is exactly 10 digits")
    if not luhn_is_valid("80840" + value):
        raise ValueError("this NPI's check digit is wrong; check it for a typo")
    return value


def check_icd10_cm(value: str) -> str:
    """An ICD-10-CM code: a letter, two characters, then an optional dot and up to four more."""
    code = value.strip().upper()
    if not _ICD10_CM.fullmatch(code):
        raise ValueError(
            "an ICD-10-CM code is a letter, a digit, a character, then up to four more (e.g. I10, E11.9)"
        )
    if "." not in code and len(code) > 3:
        code = f"{code[:3]}.{code[3:]}"
    return code


def check_e164(value: str) -> str:
    """A phone or fax number in E.164 form: +, country code, number; spaces and dashes allowed."""
    compact = re.sub(r"[\s().-]", "", value)
    if not _E164.fullmatch(compact):
        raise ValueError("use international E.164 form, e.g. +1 555 010 0199")
    return compact


@lru_cache(maxsize=8192)
def check_email(value: str) -> str:
    """pydantic's EmailStr check (email-validator, no DNS), its normalised address.

    Cached: the same referring offices' addresses arrive over and over, and the check costs
    about 50 µs, a third of decoding a referral. Invalid addresses raise and are not cached."""
    return validate_email(value)[1]


def check_birth_date(value: date, info: ValidationInfo) -> date:
    """A plausible date of birth: not in the future and not more than 130 years ago (or, in a
    stored fact whose patient was forgotten, the erased date's placeholder)."""
    if value == FORGOTTEN_BIRTH_DATE and decoding_forgotten(info.context):
        return value
    today = date.today()
    if value > today:
        raise ValueError("a date of birth cannot be in the future")
    if value < today.replace(year=today.year - MAX_AGE_YEARS, day=min(today.day, 28)):
        raise ValueError(f"a date of birth more than {MAX_AGE_YEARS} years ago is not plausible")
    return value


NPI = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(check_npi)]
ICD10Code = Annotated[str, StringConstraints(max_length=8), AfterValidator(check_icd10_cm)]
Phone = Annotated[str, StringConstraints(max_length=32), AfterValidator(check_e164)]
BirthDate = Annotated[date, AfterValidator(check_birth_date)]
Email = Annotated[
    str,
    StringConstraints(max_length=EMAIL_MAX),
    AfterValidator(check_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": EMAIL_MAX}),
]
