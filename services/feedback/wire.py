"""A letter's email as the bytes SMTP sends, written directly.

The bytes are those of the email package's message (`tests/support/mail.build_message`: the
same headers in the same order, the same parts, transfer encodings and folding; only the MIME
boundary and Date differ), made at a fraction of the cost of building and flattening an EmailMessage, which parses every header it
is given and refolds each one again. Plain headers are written as they are; any other (non-ASCII,
long, needing quotes) is folded by the same email policy. `tests/feedback/test_wire.py` holds the
two to the same bytes.
"""

from __future__ import annotations

import binascii
import random
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from email import quoprimime
from email.headerregistry import Address
from email.utils import format_datetime
from functools import lru_cache

from services.feedback.letters import Letter, Practice, Rendered
from services.feedback.message import (
    POLICY,
    clean_header_text,
    message_id,
    practice_address,
    recipient_address,
)

CRLF = "\r\n"
MAX_LINE = POLICY.max_line_length or 78
_PLAIN = re.compile(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*")
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")
_WIDTH = len(repr(sys.maxsize - 1))


@dataclass(frozen=True)
class Outgoing:
    """An email ready for SMTP: its envelope, its Message-ID and the bytes to send."""

    sender: str
    recipient: str
    message_id: str
    data: bytes


def outgoing(rendered: Rendered, letter: Letter, practice: Practice) -> Outgoing:
    """The email for `letter` to letter.to only. Raises BadAddress before building anything."""
    to, sender = _recipient(letter.to), _practice(practice.email)
    mid = message_id(letter.message_key, letter.referral_id, sender)
    head = [
        _from(clean_header_text(practice.name), sender),
        _header("To", to, _ADDRESS),
        _header("Reply-To", sender, _ADDRESS),
        _header("Subject", clean_header_text(rendered.subject)),
        _header("Date", format_datetime(datetime.now(UTC))),
        _header("Message-ID", mid),
        _header("X-Referral-Reference", clean_header_text(letter.reference)),
    ]
    return Outgoing(sender, to, mid, ("".join(head) + _body(rendered)).encode("ascii"))


_recipient = lru_cache(maxsize=4096)(recipient_address)
"""Checked once per address (referring offices write again and again); a bad one raises each time."""
_practice = lru_cache(maxsize=8)(practice_address)


def _header(name: str, value: str, plain: re.Pattern[str] = _PLAIN) -> str:
    if len(name) + 2 + len(value) <= MAX_LINE and plain.fullmatch(value):
        return f"{name}: {value}{CRLF}"
    return str(POLICY.header_factory(name, value).fold(policy=POLICY))


@lru_cache(maxsize=8)
def _from(name: str, sender: str) -> str:
    """The From line (the practice's, so the same for every email: folded once)."""
    header = POLICY.header_factory("From", Address(display_name=name, addr_spec=sender))
    return str(header.fold(policy=POLICY))


def _body(rendered: Rendered) -> str:
    """MIME-Version, Content-* and the body: text alone, or text and HTML as alternatives."""
    text = _text_part(rendered.text, "plain")
    if rendered.html is None:
        return text.replace(CRLF + CRLF, f"{CRLF}MIME-Version: 1.0{CRLF}{CRLF}", 1)
    html = _text_part(rendered.html, "html").replace(CRLF + CRLF, f"{CRLF}MIME-Version: 1.0{CRLF}{CRLF}", 1)
    boundary = _boundary(text + CRLF + html)
    return (
        f"MIME-Version: 1.0{CRLF}Content-Type: multipart/alternative;{CRLF}"
        f' boundary="{boundary}"{CRLF}{CRLF}--{boundary}{CRLF}{text}{CRLF}--{boundary}{CRLF}'
        f"{html}{CRLF}--{boundary}--{CRLF}"
    )


def _text_part(content: str, subtype: str) -> str:
    cte, payload = encode_text(content)
    lines = re.split(r"\r\n|\r|\n", payload)
    body = CRLF.join(lines)
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}'
        f"Content-Transfer-Encoding: {cte}{CRLF}{CRLF}{body}"
    )


def encode_text(text: str) -> tuple[str, str]:
    """The transfer encoding and payload the email package's set_content chooses for UTF-8 text
    under this policy (7-bit output): 7bit when it can, else the shorter of QP and base64."""
    lines = text.encode("utf-8").splitlines()
    normal = b"\n".join(lines) + b"\n"
    if max((len(line) for line in lines), default=0) <= MAX_LINE and normal.isascii():
        return "7bit", normal.decode("ascii")
    sniff = CRLF.encode().join(lines[:10]) + CRLF.encode()
    sniff_qp = quoprimime.body_encode(sniff.decode("latin-1"), MAX_LINE)
    if len(sniff_qp) > len(binascii.b2a_base64(sniff)):
        embedded = CRLF.encode().join(lines) + CRLF.encode()
        return "base64", _base64(embedded)
    if len(lines) <= 10:
        return "quoted-printable", sniff_qp
    return "quoted-printable", quoprimime.body_encode(normal.decode("latin-1"), MAX_LINE)


def _base64(data: bytes) -> str:
    step = MAX_LINE // 4 * 3
    return "".join(binascii.b2a_base64(data[i : i + step]).decode("ascii") for i in range(0, len(data), step))


def _boundary(text: str) -> str:
    """As the email package makes them: fifteen '=', a random number, '==', unused in the text."""
    boundary = "=" * 15 + f"{random.randrange(sys.maxsize):0{_WIDTH}d}" + "=="  # noqa: S311 - not a secret
    candidate, counter = boundary, 0
    while f"--{candidate}" in text and re.search(f"^--{re.escape(candidate)}(--)?$", text, re.MULTILINE):
        candidate, counter = f"{boundary}.{counter}", counter + 1
    return candidate
