"""The views' PHI columns under the store key: patient names encrypted, patient keys keyed hashes.

The read models hold, per referral, the patient's name (for the clinicians' worklists) and a key
that groups a patient's referrals (CMS50 counts a patient's first referral). With a store key,
`patient_name` is stored AES-GCM encrypted (`enc:v1:` + base64 of nonce, ciphertext and tag) and
`patient_key` is an HMAC-SHA256 of the id of the patient's data key in the store (of a digest of
name and birth date for facts stored before those keys: `received_row.py`), under keys derived
from the store key (HKDF), so neither a copy of the views file nor its WAL gives a name, and the
patient key cannot be recomputed from a guessed name and birth date. Without a store key both are kept
as they are. Values written before the key was set stay readable; `referral-loop rebuild`
rewrites them sealed.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from base64 import b64decode, b64encode
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "enc:v1:"


def derived(store_key: bytes, purpose: bytes) -> bytes:
    return HKDF(SHA256(), 32, salt=None, info=b"referral-loop views " + purpose).derive(store_key)


class Sealer:
    """Seals and opens the views' PHI columns; `Sealer(None)` leaves them as they are."""

    def __init__(self, store_key: str | None) -> None:
        raw = b64decode(store_key) if store_key else None
        self._aead = AESGCM(derived(raw, b"names")) if raw else None
        self._mac = derived(raw, b"patient keys") if raw else None

    def seal_row(self, row: dict[str, Any]) -> dict[str, Any]:
        """A new `referral_view` row as stored: its name sealed, its patient key keyed."""
        if self._aead is None:
            return row
        return {
            **row,
            "patient_name": self.seal(row["patient_name"]),
            "patient_key": self.key(row["patient_key"]),
        }

    def seal(self, text: str) -> str:
        if self._aead is None:
            return text
        nonce = os.urandom(12)
        return PREFIX + b64encode(nonce + self._aead.encrypt(nonce, text.encode(), None)).decode()

    def key(self, digest: str) -> str:
        if self._mac is None:
            return digest
        return hmac.new(self._mac, digest.encode(), hashlib.sha256).hexdigest()[:32]

    def open(self, value: str | None) -> str | None:
        """A stored name as text (as it is when it was stored in clear)."""
        if value is None or self._aead is None or not value.startswith(PREFIX):
            return value
        blob = b64decode(value[len(PREFIX) :])
        try:
            return self._aead.decrypt(blob[:12], blob[12:], None).decode()
        except InvalidTag:
            return "(unreadable with this store key)"
