"""Patients' data keys wrapped under the store key, as the keys table keeps them.

AES-256-GCM under a key derived from the store key (HKDF-SHA256), bound to the data key's id,
base64. With no store key the keys are kept as they are (base64): tests and stores in clear.
"""

from __future__ import annotations

import os
from base64 import b64decode, b64encode

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from referral_loop.store.patient_phi import DataKey


def derived(store_key: bytes, purpose: bytes) -> bytes:
    return HKDF(SHA256(), 32, salt=None, info=b"referral-loop patients " + purpose).derive(store_key)


class KeyWrap:
    """Wraps and unwraps data keys under `store_key` (raw bytes), or None: as they are."""

    def __init__(self, store_key: bytes | None) -> None:
        self._aead = AESGCM(derived(store_key, b"wrap")) if store_key else None

    def wrap(self, key_id: str, key: bytes) -> str:
        if self._aead is None:
            return b64encode(key).decode()
        nonce = os.urandom(12)
        return b64encode(nonce + self._aead.encrypt(nonce, key, key_id.encode())).decode()

    def unwrap(self, key_id: str, wrapped: str | None) -> DataKey:
        """The data key (its key None once destroyed: `wrapped` NULL)."""
        if wrapped is None:
            return DataKey(key_id, None)
        blob = b64decode(wrapped)
        if self._aead is None:
            return DataKey(key_id, blob)
        return DataKey(key_id, self._aead.decrypt(blob[:12], blob[12:], key_id.encode()))
