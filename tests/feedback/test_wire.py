"""wire.outgoing writes the same bytes as build_message(...).as_bytes() (boundary and Date aside)
for plain, non-ASCII, long and hostile text, one part or two: the fast path and the email package
agree."""

from __future__ import annotations

import dataclasses
import re

import pytest

from services.feedback.letters import Kind, Practice, Rendered
from services.feedback.message import BadAddress, envelope
from services.feedback.wire import encode_text, outgoing
from tests.feedback.test_mailer import PRACTICE, make_letter
from tests.support.mail import build_message

TEXTS = [
    "The report.\n",
    "Héllo wörld, ça va ?\n" * 3,
    "日本語のテキスト\n" * 12,
    "x" * 120 + "\n",
    "a line\n" * 25,
    "Ünïcode on a long line " * 10 + "\n" * 12,
    "",
    "no final newline",
    "mixed\rline\r\nends\n",
    "--===============1234567890123456789==\n",
]
SUBJECTS = [
    "Consult report RL-1A2B3C4D",
    "Ünïcode subject RL-1A2B3C4D",
    "A long subject that goes on " * 5,
    'quotes "x" (y) <z> RL-1',
    "two  spaces",
]
PRACTICES = [
    PRACTICE,
    dataclasses.replace(PRACTICE, name='Dr. Ünïcode, "The" Clinic', email="refs@clinic.example"),
]


def normalised(data: bytes) -> bytes:
    data = re.sub(rb"={15}\d+==(\.\d+)?", b"BOUNDARY", data)
    return re.sub(rb"Date: [^\r]*\r\n", b"Date: DATE\r\n", data)


@pytest.mark.parametrize("practice", PRACTICES, ids=["plain", "unicode"])
@pytest.mark.parametrize("subject", SUBJECTS)
@pytest.mark.parametrize("text", TEXTS)
def test_the_same_bytes_as_the_email_package(text: str, subject: str, practice: Practice) -> None:
    letter = dataclasses.replace(make_letter(Kind.REPORT), practice=practice)
    for html in (f"<p>{text}</p>", None):
        rendered = Rendered(subject=subject, text=text, html=html)
        expected = build_message(rendered, letter, practice)
        out = outgoing(rendered, letter, practice)
        assert normalised(out.data) == normalised(expected.as_bytes())
        assert (out.sender, out.recipient) == envelope(expected)
        assert out.message_id == expected["Message-ID"]


def test_a_bad_recipient_is_refused_before_anything_is_built() -> None:
    letter = make_letter(to="a@example.org, b@example.org")
    with pytest.raises(BadAddress):
        outgoing(Rendered(subject="s", text="t", html=None), letter, PRACTICE)


def test_text_encodings_as_the_email_package_chooses_them() -> None:
    assert encode_text("plain\n")[0] == "7bit"
    assert encode_text("café\n")[0] == "quoted-printable"
    assert encode_text("日本語\n")[0] == "base64"
