"""contracts.text: which characters one-line and multi-line text refuse, what the error says, and
that a recorded fact's text is never checked again."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from contracts.fields import LongText, ShortText
from contracts.forgetting import STORED_CONTEXT


def message(kind: Any, value: str) -> str:
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(kind).validate_python(value)
    return str(caught.value.errors()[0]["msg"]).removeprefix("Value error, ")


def test_one_line_text_says_which_character_and_what_to_do() -> None:
    assert message(ShortText, "Ada\nLovelace") == (
        "contains a control or text-direction character (U+000A); use one line of plain text"
    )


def test_multi_line_text_says_which_character_and_what_to_do() -> None:
    assert message(LongText, "chest\x00pain") == (
        "contains a control or text-direction character (U+0000); use plain text"
    )


@pytest.mark.parametrize("kind", [ShortText, LongText])
def test_recorded_text_keeps_what_the_edge_would_refuse(kind: Any) -> None:
    text = "Ada\x1b[2J\u202eLovelace"
    assert TypeAdapter(kind).validate_python(text, context=STORED_CONTEXT) == text
