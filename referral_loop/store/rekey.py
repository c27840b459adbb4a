"""`referral-loop rotate-store-key`: re-encrypt every stored event with a new store key, in place.

eventsourcing encrypts each event's state with the store key and has no re-encryption of its
own. This reads each store (referrals, feedback) with the configured key (or in clear, for a
store written before encryption was turned on), and rewrites every event's state under the new
key in one transaction per store: positions, ids and tracking rows are untouched, so feedback
and the projector go on where they were. Run it with every service stopped; a crash leaves a
store whole under the old key or whole under the new one (`at_rest.check_key_fits` tells which).
Then configure the new key, run `referral-loop rebuild` (the views' names are sealed with the
store key too) and start the services.
"""

from __future__ import annotations

import sys
from base64 import b64decode
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.cryptography import AESCipher
from eventsourcing.persistence import Cipher, ProcessRecorder
from eventsourcing.utils import Environment

from referral_loop.keys import checked, store_key
from referral_loop.settings import Settings
from referral_loop.store.at_rest import check_key_fits, in_clear
from referral_loop.store.config import opening, store_env
from referral_loop.store.patient_keys import PatientKeys

STORES = {"Referrals": "sqlite_file", "Feedback": "feedback_sqlite_file"}
TRACKING = {"Referrals": {"SINGLE_ROW_TRACKING": "n"}, "Feedback": {}}
"""Each store's tracking as its service opens it (the referrals store keeps one row per position)."""


class _Store(Application[UUID]):
    def construct_recorder(self) -> ProcessRecorder:
        return self.factory.process_recorder()


def open_store(settings: Settings, name: str) -> Application[UUID]:
    """A store by its application name, as its service opens it (refused if the key does not fit)."""
    env = store_env(settings, name, getattr(settings, STORES[name]), **TRACKING[name])
    cls = type(name, (_Store,), {"name": name})
    return check_key_fits(opening(lambda: cls(env=env)))


def rotate(settings: Settings, new_key: str, out: TextIO = sys.stderr) -> dict[str, int]:
    """Re-encrypt both stores under `new_key`; the number of events rewritten in each."""
    new = AESCipher(Environment(env={"CIPHER_KEY": checked(new_key, "the new store key")}))
    rewritten = {}
    for name in STORES:
        app = open_store(settings, name)
        try:
            rewritten[name] = rewrite(app, new, patient_keys_rewrap(settings, app, new_key))
        finally:
            app.close()
        print(f"rotate-store-key: {name}: {rewritten[name]} events re-encrypted", file=out)
    return rewritten


def rewrite(app: Application[UUID], new: AESCipher, rewrap: Callable[[Any], object] = lambda _: None) -> int:
    """Every event of `app`'s store re-encrypted under `new` (and `rewrap(cursor)` done), in
    one transaction."""
    recorder: Any = app.recorder
    table, old = recorder.events_table_name, app.mapper.cipher
    if hasattr(recorder.datastore, "schema"):  # PostgreSQL
        with recorder.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as cursor:
            qualified = f'"{recorder.datastore.schema}"."{table}"'
            cursor.execute(f"SELECT notification_id AS id, state FROM {qualified} FOR UPDATE")  # noqa: S608
            rows = [(again(bytes(r["state"]), old, new), r["id"]) for r in cursor.fetchall()]
            cursor.executemany(f"UPDATE {qualified} SET state = %s WHERE notification_id = %s", rows)  # noqa: S608
            rewrap(cursor)
            return len(rows)
    with recorder.datastore.transaction(commit=True) as cursor:
        cursor.execute(f"SELECT rowid AS id, state FROM {table}")  # noqa: S608
        rows = [(again(r["state"], old, new), r["id"]) for r in cursor.fetchall()]
        cursor.executemany(f"UPDATE {table} SET state = ? WHERE rowid = ?", rows)  # noqa: S608
        rewrap(cursor)
        return len(rows)


def patient_keys_rewrap(settings: Settings, app: Application[UUID], new_key: str) -> Callable[[Any], object]:
    """The referrals store's patient data keys wrapped under the new key, in the same transaction."""
    if app.name != "Referrals":
        return lambda _: None
    old = store_key(settings)
    keys = PatientKeys(app.recorder.datastore, settings.store == "postgres", b64decode(old) if old else None)  # type: ignore[attr-defined]
    return lambda cursor: keys.rewrap(cursor, b64decode(new_key))


def again(state: bytes, old: Cipher | None, new: Cipher) -> bytes:
    """A stored state under the new key (read with the old one, or in clear when there was none)."""
    plain = old.decrypt(state) if old else state
    if old is None and not in_clear(plain):
        raise ValueError("a stored event is neither in clear nor under the configured key")
    return new.encrypt(plain)


def main(settings: Settings, new_key_file: Path) -> int:
    new_key = store_key(settings.model_copy(update={"store_key": None, "store_key_file": new_key_file}))
    if new_key is None:
        raise SystemExit("rotate-store-key: give the new key's file")
    rotate(settings, new_key)
    return 0
