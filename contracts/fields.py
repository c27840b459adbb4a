"""Validated field types shared by every event: NPI, ICD-10-CM, phones, clean text, dates in range.

Each type fails with a message that says what is wrong, so an API or form error can name
the field and the fix. Checks that depend on the present or on reference data (a date's range
from today, the ICD-10-CM code set, parsing a national phone number, control characters) run at
the edge; a fact a store recorded is validated with STORED_CONTEXT against its shape and the
absolute date bounds only (`contracts.bounds`), so it replays as it was recorded.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, StringConstraints, ValidationInfo, WithJsonSchema
from pydantic.networks import validate_email

from contracts import icd10_cm
from contracts.bounds import (
    DAYS_IN_RANGE,
    IN_RANGE,
    check_birth_day,
    check_event_time,
    check_schedule_date,
    check_schedule_time,
)
from contracts.forgetting import FORGOTTEN_BIRTH_DATE, decoding_forgotten, validating_stored
from contracts.phones import check_phone
from contracts.text import check_multi_line, check_one_line

SHORT_TEXT = 200
LONG_TEXT = 4000

ShortText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=SHORT_TEXT),
    AfterValidator(check_one_line),
]
LongText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=LONG_TEXT),
    AfterValidator(check_multi_line),
]
EMAIL_MAX = 254

_ICD10_CM = re.compile(r"^[A-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?$")


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


def check_icd10_cm(value: str, info: ValidationInfo) -> str:
    """An ICD-10-CM code of the current code set (shape only for a recorded fact), with its dot."""
    code = value.strip().upper()
    if not _ICD10_CM.fullmatch(code):
        raise ValueError(
            "an ICD-10-CM code is a letter, a digit, a character, then up to four more (e.g. I10, E11.9)"
        )
    if not validating_stored(info.context) and not icd10_cm.exists(code):
        raise ValueError(f"{icd10_cm.with_dot(code)} is not in the ICD-10-CM code set")
    return icd10_cm.with_dot(code)


@lru_cache(maxsize=8192)
def check_email(value: str) -> str:
    """pydantic's EmailStr check (email-validator, no DNS), its normalised address.

    Cached: the same referring offices' addresses arrive over and over, and the check costs
    about 50 µs, a third of decoding a referral. Invalid addresses raise and are not cached."""
    return validate_email(value)[1]


def check_birth_date(value: date, info: ValidationInfo) -> date:
    """A plausible date of birth (`bounds.check_birth_day`); or, in a stored fact whose patient
    was forgotten, the erased date's placeholder, which no submission may carry."""
    if value == FORGOTTEN_BIRTH_DATE and decoding_forgotten(info.context):
        return value
    return check_birth_day(value, info)


NPI = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(check_npi)]
ICD10Code = Annotated[str, StringConstraints(max_length=8), AfterValidator(check_icd10_cm)]
Phone = Annotated[str, StringConstraints(max_length=32), AfterValidator(check_phone)]
BirthDate = Annotated[date, AfterValidator(check_birth_date)]
EventTime = Annotated[AwareDatetime, *IN_RANGE, AfterValidator(check_event_time)]
"""When something happened: from 1990, not in the future (beyond a few minutes' clock skew)."""
RecordedTime = Annotated[AwareDatetime, *IN_RANGE]
"""A time the system set (recorded, due): from 1990 to the end of 2199."""
ScheduledTime = Annotated[AwareDatetime, *IN_RANGE, AfterValidator(check_schedule_time)]
"""An appointment: within a few years of now (at the edge), between 1990 and 2200 always."""
ScheduledDate = Annotated[date, *DAYS_IN_RANGE, AfterValidator(check_schedule_date)]
"""A visit's or a requested-by day: within a few years of now (at the edge), 1990-2199 always."""
Email = Annotated[
    str,
    StringConstraints(max_length=EMAIL_MAX),
    AfterValidator(check_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": EMAIL_MAX}),
]
