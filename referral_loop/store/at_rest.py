"""Opening a store only with the key its events were written with.

A store is encrypted whole or not at all: a service with a store key refuses a store holding
events in clear (written before the key was configured), or encrypted with another key, and a
service without a key refuses an encrypted store, each with a message that says what to do.
Nothing is ever written to a store this check refused, so no store ends up mixed.
`referral-loop rotate-store-key` re-encrypts a store in place (from clear, or from an old key).
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent

from referral_loop.keys import StoreKeyError

A = TypeVar("A", bound=Application[Any])


def check_key_fits(app: A) -> A:
    """`app` when its mapper reads the store's first and last events; else closed, StoreKeyError."""
    try:
        for stored in ends(app):
            check_event(app, stored)
    except StoreKeyError:
        app.close()
        raise
    return app


def ends(app: Application[Any]) -> list[StoredEvent]:
    """The store's first and last events (none when it is empty)."""
    last = app.recorder.max_notification_id()
    if not last:
        return []
    return [*app.recorder.select_notifications(1, 1), *app.recorder.select_notifications(last, 1)]


def in_clear(state: bytes) -> bool:
    """Whether a stored state is eventsourcing's JSON as it is, not ciphertext."""
    try:
        return isinstance(json.loads(state), dict)
    except ValueError:
        return False


def readable(app: Application[Any], stored: StoredEvent) -> bool:
    try:
        app.mapper.to_domain_event(stored)
    except Exception:
        return False
    return True


def check_event(app: Application[Any], stored: StoredEvent) -> None:
    """StoreKeyError, saying why and what to do, when the app's mapper cannot read `stored`."""
    if readable(app, stored):
        return
    name = app.name
    if app.mapper.cipher is None:
        raise StoreKeyError(
            f"the {name} store is encrypted: set REFERRAL_LOOP_STORE_KEY or REFERRAL_LOOP_STORE_KEY_FILE"
        )
    if in_clear(stored.state):
        raise StoreKeyError(
            f"the {name} store holds events in clear, written before a store key was set: stop every "
            "service and encrypt it with `referral-loop rotate-store-key --new-key-file FILE`, run with no key set"
        )
    raise StoreKeyError(
        f"the {name} store was encrypted with another key than the configured one, or altered"
    )
