"""The JetStream key: encryption at rest of NATS's streams, handled like the store key.

nats-server encrypts every message block and stream or consumer metadata file it writes with a
key derived from this one (ChaCha20-Poly1305 or AES-GCM), so the facts it holds for the store
writer (PHI in REFERRALS, for 90 days, and in REFERRALS_DEADLETTER) are not readable from its
files. The key is 32 random bytes, base64: `REFERRAL_LOOP_JETSTREAM_KEY` (environment) or
`REFERRAL_LOOP_JETSTREAM_KEY_FILE` (a secrets file). `make run` and `make cluster` make
`$DATA_DIR/secrets/jetstream.key` once (0600) when neither is set, and give it to nats-server in
its environment only: never in its config file, a log, or the services' environment.
"""

from __future__ import annotations

from launcher.natsd_config import JetStreamEncryption
from referral_loop.keys import new_key, write_key_file
from referral_loop.settings import ENV_PREFIX, Settings

MIN_KEY_CHARS = 32
KEY_SETTINGS = (f"{ENV_PREFIX}JETSTREAM_KEY", f"{ENV_PREFIX}JETSTREAM_KEY_FILE")
"""Only the process that starts nats-server reads these; its services are not given them."""


class JetStreamKeyError(RuntimeError):
    """The JetStream key is too short or its file cannot be read (the key is never shown)."""


def jetstream_key(settings: Settings) -> str | None:
    """The configured key, checked; None when none is configured."""
    if settings.jetstream_key is not None and settings.jetstream_key.get_secret_value():
        return checked(settings.jetstream_key.get_secret_value(), KEY_SETTINGS[0])
    path = settings.jetstream_key_file
    if path is None:
        return None
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise JetStreamKeyError(f"cannot read the JetStream key file {path}: {error}") from None
    return checked(text, f"the JetStream key file {path}")


def checked(key: str, source: str) -> str:
    """`key` when it is long enough and one token (it goes into an environment variable)."""
    if len(key) < MIN_KEY_CHARS or any(c.isspace() for c in key):
        raise JetStreamKeyError(
            f"{source} must be at least {MIN_KEY_CHARS} characters without spaces "
            "(base64 of 32 random bytes: python -c 'from referral_loop.keys import new_key; print(new_key())')"
        )
    return key


def with_local_jetstream_key(settings: Settings) -> Settings:
    """`make run`: with no key configured, use `$DATA_DIR/secrets/jetstream.key`, created once."""
    if jetstream_key(settings) is not None:
        return settings
    path = settings.data_dir / "secrets" / "jetstream.key"
    if not path.exists():
        write_key_file(path, new_key())
    return settings.model_copy(update={"jetstream_key_file": path})


def encryption(settings: Settings) -> JetStreamEncryption | None:
    """What the embedded nats-server is given: the key and the cipher (None: no key configured)."""
    key = jetstream_key(settings)
    return JetStreamEncryption(key, settings.jetstream_cipher) if key else None
