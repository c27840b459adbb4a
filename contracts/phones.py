"""Phone and fax numbers: parsed as people write them, kept in E.164.

`(555) 010-0199` is a whole number for a practice in the US: the practice's region (the
validation context's `phone_region`, else `DEFAULT_REGION`, which the services set from
REFERRAL_LOOP_PHONE_REGION) supplies the country code a national number leaves out. A number
must be complete (possible as dialled from anywhere), not merely a local extension.
"""

from __future__ import annotations

from typing import Any

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult
from pydantic import ValidationInfo

from contracts.forgetting import validating_stored

DEFAULT_REGION = "US"


def set_default_region(region: str) -> None:
    """The region of national numbers (ISO 3166 alpha-2), from the practice's settings."""
    global DEFAULT_REGION
    if region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown phone region {region!r}: use an ISO 3166 code such as US or GB")
    DEFAULT_REGION = region.upper()


def check_phone(value: str, info: ValidationInfo) -> str:
    """The number in E.164 form (+, country code, number)."""
    context: Any = info.context
    if validating_stored(context):
        return value  # recorded in E.164 already
    region = context.get("phone_region", DEFAULT_REGION) if isinstance(context, dict) else DEFAULT_REGION
    try:
        number = phonenumbers.parse(value, region)
    except NumberParseException:
        raise ValueError("is not a phone number; e.g. +1 555 010 0199 or (555) 010-0199") from None
    if phonenumbers.is_possible_number_with_reason(number) != ValidationResult.IS_POSSIBLE:
        raise ValueError("is not a complete phone number: give the area code (or +country code)")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)
