"""Attack the store key: wrong, missing, malformed, or a store written in clear before the key.

A service never reads or writes a store its key does not fit (refused at opening, with what to
do), and `rotate-store-key` moves a store from clear to a key, and from a key to another, in
place: positions, history and feedback's progress survive, the old key no longer reads it.
"""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path
from uuid import uuid4

import pytest
from pydantic import SecretStr

from referral_loop.keys import StoreKeyError, new_key, store_key, with_local_key, write_key_file
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.follower import read_page
from referral_loop.store.ledger import Positioned
from referral_loop.store.rekey import main as rotate_main
from services.feedback.bootstrap import open_feedback_ledger
from tests.support import referrals as make


def keyed(settings: Settings, key: str | None) -> Settings:
    return settings.model_copy(update={"store_key": SecretStr(key) if key else None})


def record_some(settings: Settings) -> list[object]:
    """Two referrals recorded and decided on by feedback; their timelines."""
    ids = [uuid4(), uuid4()]
    ledger, feedback = open_ledger(settings), open_feedback_ledger(settings)
    try:
        facts = [make.received(ids[0]), make.received(ids[1]), make.accepted(ids[0])]
        start = (ledger.recorder.max_notification_id() or 0) + 1
        ledger.record_batch([Positioned(start + i, f) for i, f in enumerate(facts)])
        assert feedback.process(read_page(ledger, feedback.position(), 10))
        return [ledger.timeline(rid) for rid in ids]
    finally:
        feedback.close()
        ledger.close()


def state_of(settings: Settings) -> tuple[list[object], int, int]:
    """What a service sees: every fact in order, the store's end, feedback's position."""
    ledger, feedback = open_ledger(settings), open_feedback_ledger(settings)
    try:
        facts = [r.fact for r in read_page(ledger, 0, 100)]
        return facts, ledger.recorder.max_notification_id() or 0, feedback.position()
    finally:
        feedback.close()
        ledger.close()


def refused(settings: Settings, opener: object = open_ledger) -> str:
    with pytest.raises(StoreKeyError) as error:
        opener(settings)  # type: ignore[operator]
    return str(error.value)


def test_a_store_written_in_clear_is_refused_once_a_key_is_set(store_settings: Settings) -> None:
    record_some(store_settings)
    with_key = keyed(store_settings, new_key())
    assert "in clear" in refused(with_key) and "rotate-store-key" in refused(with_key)
    assert "in clear" in refused(with_key, open_feedback_ledger)
    assert len(state_of(store_settings)[0]) == 3, "the refused opening wrote something"


def test_an_encrypted_store_is_refused_without_its_key_or_with_another(store_settings: Settings) -> None:
    key = new_key()
    record_some(keyed(store_settings, key))
    assert "is encrypted" in refused(store_settings)
    assert "is encrypted" in refused(store_settings, open_feedback_ledger)
    assert "another key" in refused(keyed(store_settings, new_key()))
    assert "another key" in refused(keyed(store_settings, new_key()), open_feedback_ledger)


def test_rotation_from_clear_then_to_a_new_key_keeps_history_and_positions(
    store_settings: Settings, tmp_path: Path
) -> None:
    record_some(store_settings)
    before = state_of(store_settings)
    first, second = new_key(), new_key()
    write_key_file(tmp_path / "first.key", first)
    write_key_file(tmp_path / "second.key", second)
    assert rotate_main(store_settings, tmp_path / "first.key") == 0
    assert "is encrypted" in refused(store_settings)
    assert state_of(keyed(store_settings, first)) == before
    assert rotate_main(keyed(store_settings, first), tmp_path / "second.key") == 0
    assert "another key" in refused(keyed(store_settings, first))
    assert state_of(keyed(store_settings, second)) == before
    record_some(keyed(store_settings, second))  # the writer and feedback go on under the new key
    assert len(patient_keys(keyed(store_settings, second))) == 1, (
        "the same patient, one data key, across rotations"
    )


def patient_keys(settings: Settings) -> set[str | None]:
    """The patient data keys the referrals are sealed under (every referral here: one patient)."""
    ledger = open_ledger(settings)
    try:
        return {r.patient_key_id for r in read_page(ledger, 0, 100) if r.fact.type == "ReferralReceived"}
    finally:
        ledger.close()


@pytest.mark.parametrize("bad", ["not base64!", "c2hvcnQ=", ""])
def test_a_malformed_key_is_refused_without_being_echoed(bad: str, tmp_path: Path) -> None:
    (tmp_path / "bad.key").write_text(bad)
    for settings in (
        Settings(store_key=SecretStr(bad or "=")),
        Settings(store_key_file=tmp_path / "bad.key"),
    ):
        with pytest.raises(StoreKeyError) as error:
            store_key(settings)
        assert bad not in str(error.value) or not bad


def test_a_missing_key_file_is_an_error_not_a_store_in_clear(tmp_path: Path) -> None:
    with pytest.raises(StoreKeyError, match="cannot read"):
        store_key(Settings(store_key_file=tmp_path / "absent.key"))


def test_make_run_creates_a_private_key_file_once_and_keeps_it(tmp_path: Path) -> None:
    settings = with_local_key(Settings(data_dir=tmp_path))
    assert settings.store_key_file == tmp_path / "secrets" / "store.key"
    assert stat.S_IMODE(settings.store_key_file.stat().st_mode) == 0o600
    again = with_local_key(Settings(data_dir=tmp_path))
    assert store_key(again) == store_key(settings) is not None


def test_make_run_uses_a_configured_key_and_creates_no_file(tmp_path: Path) -> None:
    key = new_key()
    settings = with_local_key(Settings(data_dir=tmp_path, store_key=SecretStr(key)))
    assert store_key(settings) == key and not (tmp_path / "secrets").exists()


def test_a_changed_byte_in_a_stored_event_fails_to_read_instead_of_reading_otherwise(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, store_key=SecretStr(new_key()))
    rid = uuid4()
    ledger = open_ledger(settings)
    try:
        ledger.record_batch([Positioned(1, make.received(rid))])
        assert ledger.timeline(rid)
    finally:
        ledger.close()
    with sqlite3.connect(settings.sqlite_file) as db:
        (state,) = db.execute("SELECT state FROM stored_events").fetchone()
        changed = state[:40] + bytes([state[40] ^ 1]) + state[41:]
        db.execute("UPDATE stored_events SET state = ?", (changed,))
    with pytest.raises(StoreKeyError):  # the opening check reads the first event
        open_ledger(settings)
