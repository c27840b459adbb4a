"""Received mail as `.eml` files a person can read: the envelope header and atomic writes."""

from __future__ import annotations

import hashlib
import os
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path

from aiosmtpd.smtp import Envelope


def envelope_header(envelope: Envelope) -> bytes:
    """`Return-Path` and one `X-Envelope-To` per recipient, control characters removed."""
    lines = [f"Return-Path: <{clean(envelope.mail_from or '')}>"]
    lines += [f"X-Envelope-To: <{clean(rcpt)}>" for rcpt in envelope.rcpt_tos]
    return "".join(line + "\r\n" for line in lines).encode("utf-8", "surrogateescape")


def clean(address: str) -> str:
    return "".join(ch for ch in address if ch.isprintable() and not ch.isspace() and ch not in "<>")


def lf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


def message_id_hash(content: bytes) -> str:
    """12 hex digits of SHA-256 over the Message-ID header (file-name safe whatever it holds).

    Only the bytes up to the first blank line are parsed: the body holds no header."""
    head, blank, _ = content.partition(b"\r\n\r\n")
    headers = BytesHeaderParser(policy=policy.compat32).parsebytes(head + blank)
    return hashlib.sha256(str(headers.get("Message-ID", "")).encode()).hexdigest()[:12]


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a hidden temp file beside `path` (`.<name>.tmp`, created exclusively, owner-only),
    then rename it into place. `path` is unique (the sink numbers its files), so is its temp file."""
    temp = path.with_name(f".{path.name}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
