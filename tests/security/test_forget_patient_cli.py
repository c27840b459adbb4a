"""`forget-patient` run as the README says, beside `make run`: a process of its own whose shell
names no store key, next to the data directory `make run` prepared (its store key in
`$DATA_DIR/secrets/store.key`, the nkeys in `$DATA_DIR/secrets/nats`), with a real nats-server and
store writer. It finds the key as the services do and forgets the patient. A run that cannot
(here: a store key that is not the store's) is audited as failed. (Before: StoreKeyError, a
traceback and nothing in the audit log.)"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from uuid import UUID

import pytest

from contracts.forgetting import FORGOTTEN
from referral_loop.keys import new_key, with_local_key
from referral_loop.messaging.publisher import FactPublisher
from referral_loop.privacy import forgetting
from referral_loop.settings import Settings, settings_env
from referral_loop.store.config import open_ledger
from referral_loop.web.audit import AuditEvent, AuditLog, AuditQuery
from tests.security.test_forget_patient import Stack, opened_stack, settled
from tests.support import referrals as make
from tests.support.processes import base_env


@pytest.fixture
async def beside_make_run(tmp_path: Path, store_settings: Settings) -> AsyncIterator[Stack]:
    """The stack on settings as `make run` gives its services: the store key made in data_dir."""
    async with opened_stack(tmp_path, with_local_key(store_settings)) as stack:
        assert stack.settings.store_key_file == tmp_path / "secrets" / "store.key"
        yield stack


async def forget_patient(stack: Stack, referral_id: UUID, **shell: str) -> subprocess.CompletedProcess[str]:
    """`referral-loop forget-patient` from an operator's shell: the deployment's settings but no
    store key and no nkey named (`make run` keeps both in data_dir), plus `shell`."""
    settings = stack.settings.model_copy(update={"store_key_file": None, "nats_secrets_dir": None})
    env = {**base_env(), **settings_env(settings), **shell}
    command = [sys.executable, "-m", "launcher.cli", "forget-patient", str(referral_id), "--by", "dpo"]
    run = subprocess.run
    return await asyncio.to_thread(
        run, command, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def erasures(settings: Settings) -> list[AuditEvent]:
    log = AuditLog(settings, "test")
    try:
        return log.query(AuditQuery(what="patient"))
    finally:
        log.close()


async def recorded(stack: Stack) -> UUID:
    received = make.received()
    await FactPublisher(stack.intake, timeout_s=5).publish(received)
    await settled(stack)
    return received.referral_id


async def test_forget_patient_beside_make_run_finds_the_store_key(beside_make_run: Stack) -> None:
    stack = beside_make_run
    referral_id = await recorded(stack)
    done = await forget_patient(stack, referral_id)
    assert done.returncode == forgetting.EXIT_OK, done.stderr
    with closing(open_ledger(stack.settings)) as ledger:
        [received, *_] = ledger.timeline(referral_id)
        assert received.data.patient.given_name == FORGOTTEN
    [entry] = erasures(stack.settings)
    assert (entry.who, entry.outcome, entry.referral_ids) == ("dpo", "allowed", (str(referral_id),))


async def test_a_forget_patient_that_cannot_open_the_store_is_audited_as_failed(
    beside_make_run: Stack,
) -> None:
    stack = beside_make_run
    referral_id = await recorded(stack)
    done = await forget_patient(stack, referral_id, REFERRAL_LOOP_STORE_KEY=new_key())  # not the store's
    assert done.returncode == forgetting.EXIT_NOTHING
    assert "cannot open the store" in done.stderr and "Traceback" not in done.stderr, done.stderr
    [entry] = erasures(stack.settings)
    assert (entry.who, entry.outcome, entry.referral_ids) == ("dpo", "failed", (str(referral_id),))
    assert "another key" in entry.detail
