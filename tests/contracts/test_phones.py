"""contracts.phones: the practice's region completes national numbers; errors say what is wrong;
recorded numbers are kept as they are."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from contracts import phones
from contracts.fields import Phone
from contracts.forgetting import STORED_CONTEXT


@pytest.fixture
def region() -> Iterator[None]:
    """Whatever a test sets, the default region is the US again afterwards."""
    yield
    phones.set_default_region("US")


def message(value: str, context: Any = None) -> str:
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(Phone).validate_python(value, context=context)
    return str(caught.value.errors()[0]["msg"]).removeprefix("Value error, ")


def test_errors_say_what_is_wrong() -> None:
    assert message("call me") == "is not a phone number; e.g. +1 555 010 0199 or (555) 010-0199"
    assert message("555-0199") == "is not a complete phone number: give the area code (or +country code)"


def test_the_practices_region_is_set_in_either_case(region: None) -> None:
    phones.set_default_region("gb")
    assert phones.DEFAULT_REGION == "GB"
    assert TypeAdapter(Phone).validate_python("020 7946 0958") == "+442079460958"


def test_an_unknown_region_is_refused_and_the_region_kept(region: None) -> None:
    with pytest.raises(ValueError, match="unknown phone region 'ZZ': use an ISO 3166 code such as US or GB"):
        phones.set_default_region("ZZ")
    assert phones.DEFAULT_REGION == "US"


def test_a_recorded_number_is_kept_as_recorded() -> None:
    assert TypeAdapter(Phone).validate_python("555-0199", context=STORED_CONTEXT) == "555-0199"
