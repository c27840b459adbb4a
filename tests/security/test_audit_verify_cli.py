"""`referral-loop audit verify` as an operator runs it beside `make run`: a process of its own
whose environment names no store key, next to a data directory `make run` prepared (its key in
`$DATA_DIR/secrets/store.key`). It finds that key as the services do, checks the MACs, and names
the first broken entry with a non-zero exit."""

from __future__ import annotations

import subprocess
import sys

from referral_loop.keys import with_local_key
from referral_loop.settings import Settings, settings_env
from referral_loop.web.audit import AuditEvent, AuditLog
from referral_loop.web.audit_verify import EXIT_BROKEN, EXIT_INTACT
from tests.security.test_audit_chain import tamper
from tests.support.processes import base_env


def audit_verify(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "launcher.cli", "audit", "verify", *args]
    env = {**base_env(), **settings_env(settings)}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_verify_beside_make_run_checks_the_macs_and_names_a_break(store_settings: Settings) -> None:
    made = with_local_key(store_settings)  # as make run: the key file made once, given to its services
    log = AuditLog(made, "intake")
    try:
        for n in range(3):
            log.record(AuditEvent("ada", "intake", "read", "referral", "allowed", (f"r{n}",)))
    finally:
        log.close()
    beside = made.model_copy(update={"store_key_file": None})  # an operator's shell: no key set

    intact = audit_verify(beside)
    assert intact.returncode == EXIT_INTACT, intact.stdout + intact.stderr
    assert "intact: 3 chained entries" in intact.stdout and "no MAC" not in intact.stdout
    head = intact.stdout.split("head ")[1].split()[0]

    tamper(made, "DELETE FROM audit_log WHERE seq = 2")
    broken = audit_verify(beside)
    assert broken.returncode == EXIT_BROKEN
    assert "BROKEN at entry 3: its prev_hash is not the hash of entry 1" in broken.stdout

    tamper(made, "DELETE FROM audit_log WHERE seq = 3")
    cut = audit_verify(beside, "--head", head)
    assert cut.returncode == EXIT_BROKEN and "not in the chain" in cut.stdout, cut.stdout
