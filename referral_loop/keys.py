"""The store key: AES-GCM encryption at rest of every event store (referrals, feedback).

The key is 16, 24 or 32 random bytes, base64-encoded, from `REFERRAL_LOOP_STORE_KEY` (the
environment) or `REFERRAL_LOOP_STORE_KEY_FILE` (a secrets file holding the same text). With
neither, the stores are written in clear: `make run` always configures one (`with_local_key`),
and every command run beside it finds that one (`located`: launcher/cli.py, for all but
rotate-store-key, which is told its keys).
eventsourcing's `AESCipher` (module `eventsourcing.cryptography`) encrypts each stored event's
state with it; ids, versions and event type names stay readable, so none of them holds PHI.
"""

from __future__ import annotations

import binascii
import os
from base64 import b64decode
from pathlib import Path

from eventsourcing.cryptography import AESCipher

from referral_loop.settings import Settings

CIPHER_TOPIC = "eventsourcing.cryptography:AESCipher"
KEY_BYTES = 32


class StoreKeyError(RuntimeError):
    """The store key is malformed, missing for an encrypted store, or not the store's key."""


def store_key(settings: Settings) -> str | None:
    """The configured store key (base64), checked; None when encryption at rest is off."""
    if settings.store_key is not None and settings.store_key.get_secret_value():
        return checked(settings.store_key.get_secret_value(), "REFERRAL_LOOP_STORE_KEY")
    if settings.store_key_file is not None:
        try:
            text = settings.store_key_file.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise StoreKeyError(
                f"cannot read the store key file {settings.store_key_file}: {error}"
            ) from None
        return checked(text, f"the store key file {settings.store_key_file}")
    return None


def checked(key: str, source: str) -> str:
    """`key` when it is base64 of 16, 24 or 32 bytes (never shown in the error)."""
    try:
        size = len(b64decode(key, validate=True))
    except (binascii.Error, ValueError):
        raise StoreKeyError(f"{source} is not base64") from None
    if size not in AESCipher.KEY_SIZES:
        raise StoreKeyError(f"{source} holds {size} bytes; an AES key is 16, 24 or 32 bytes")
    return key


def cipher_env(settings: Settings) -> dict[str, str]:
    """eventsourcing's cipher settings for a store (empty: events stored in clear)."""
    key = store_key(settings)
    return {"CIPHER_TOPIC": CIPHER_TOPIC, "CIPHER_KEY": key} if key else {}


def new_key() -> str:
    """A fresh random 256-bit key, base64."""
    return AESCipher.create_key(KEY_BYTES)


def write_key_file(path: Path, key: str) -> None:
    """Create `path` holding `key`, readable by this user only (0600); refuses to overwrite."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(key + "\n")


def local_key_file(settings: Settings) -> Path:
    """Where `make run` keeps its store key: `$DATA_DIR/secrets/store.key`."""
    return settings.data_dir / "secrets" / "store.key"


def located(settings: Settings) -> Settings:
    """The settings with the store key `make run` gives its services: the one configured, else
    `make run`'s key file when it exists (else none). The one lookup for services and commands."""
    path = local_key_file(settings)
    if settings.store_key_file is not None or (settings.store_key and settings.store_key.get_secret_value()):
        return settings
    return settings.model_copy(update={"store_key_file": path}) if path.exists() else settings


def with_local_key(settings: Settings) -> Settings:
    """`make run`: with no store key configured, use `$DATA_DIR/secrets/store.key`, created once."""
    if store_key(settings) is not None:
        return settings
    path = local_key_file(settings)
    if not path.exists():
        write_key_file(path, new_key())
    return located(settings)
