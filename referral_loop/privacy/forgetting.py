"""`referral-loop forget-patient <referral id> [--by NAME]`: erase a patient by crypto-shredding.

Given any referral of the patient, in this order (each step safe to run again):
1. their data key is destroyed (`PatientKeys.forget`): what every fact of every referral of
   theirs held sealed under it (names, birth date, phone, MRN, member id, reasons, notes, the
   consult summary) reads as placeholders from now on, in the store and in every copy of it;
2. no old copy of the key is left in the store's files (`key_residue`: SQLite's WAL truncated,
   PostgreSQL's keys table vacuumed);
3. a PatientForgotten fact for each of their referrals goes in over NATS, and the store writer is
   given `--wait` seconds to record them: projections and feedback redact what they keep;
4. their facts are erased from the JetStream streams (`forgetting_bus`, `stream_erasure`);
5. one audit entry: action `erase`, what `patient`, their referral ids, who `--by`; a run that
   stops early (no store key, the store unreachable, NATS down, an error) is audited `failed`.

It connects to NATS as the operator (`admin`'s nkey): no service may delete messages. Nothing it
prints or records names the patient: referral ids and counts only. Exit status: 0 done, 1 nothing
to forget (unknown referral, or one recorded before patient keys existed; or NATS unreachable:
nothing done), 3 the key is destroyed but something is left (said what): run it again.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from eventsourcing.persistence import PersistenceError
from nats.aio.client import Client
from nats.errors import Error as NatsError
from pydantic import ValidationError

from contracts.envelope import Actor, ActorKind
from contracts.events import PatientForgotten
from referral_loop.keys import StoreKeyError
from referral_loop.messaging.bus import connect
from referral_loop.messaging.nats_auth import ADMIN
from referral_loop.privacy.forgetting_bus import BusErasure, forgotten_fact, on_the_bus
from referral_loop.privacy.forgetting_report import Report
from referral_loop.privacy.key_residue import clear_key_residue
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.ledger import ReferralLedger
from referral_loop.web.audit import AuditEvent, AuditLog
from referral_loop.web.operator import ROLE, os_user

EXIT_OK, EXIT_NOTHING, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3
WAIT_S = 60.0
SERVICE = "forget-patient"
ONCE = {"allow_reconnect": False, "max_reconnect_attempts": 2}
"""NATS refusing the operator, or down: said within a second or two (then run it again)."""


class KeyState(StrEnum):
    UNKNOWN = "unknown"
    UNSEALED = "unsealed"
    LIVE = "live"
    DESTROYED = "destroyed"


WHY_NOT = {
    KeyState.UNKNOWN: "no referral {} in the store (unknown, or not recorded yet)",
    KeyState.UNSEALED: "referral {} was recorded before patient keys existed: its details are not "
    "sealed, so destroying a key cannot erase them",
}


def run(settings: Settings, args: argparse.Namespace) -> int:
    """`referral-loop forget-patient` (its arguments are declared in launcher/cli.py)."""
    return main(settings, args.referral_id, args.by or os_user(), args.wait)


@dataclass(frozen=True)
class Request:
    referral_id: UUID
    actor: Actor
    wait_s: float


def main(settings: Settings, referral_id: UUID, by: str, wait_s: float = WAIT_S) -> int:
    """Forget the patient of `referral_id`, on behalf of `by`: the exit status."""
    try:
        actor = Actor(kind=ActorKind.STAFF, name=by)
    except ValidationError:
        print("forget-patient: --by must be a name of 1 to 200 characters", file=sys.stderr)
        return EXIT_USAGE
    return asyncio.run(forget_patient(settings, Request(referral_id, actor, wait_s)))


async def forget_patient(settings: Settings, request: Request) -> int:
    """Audited whatever happens: done, nothing to do, or stopped by an error (recorded, raised)."""
    audit = AuditLog(settings, SERVICE)
    try:
        return await _opened(settings, audit, request)
    except Exception as error:
        await _failed(audit, request, f"stopped by {type(error).__name__}; run it again")
        raise
    finally:
        audit.close()


async def _opened(settings: Settings, audit: AuditLog, request: Request) -> int:
    try:
        ledger = await asyncio.to_thread(open_ledger, settings)
    except (StoreKeyError, PersistenceError) as error:  # no key, another key, no database
        return await _nothing(audit, request, f"cannot open the store: {error}")
    try:
        return await _forget(settings, ledger, audit, request)
    finally:
        await asyncio.to_thread(ledger.close)


async def _forget(settings: Settings, ledger: ReferralLedger, audit: AuditLog, request: Request) -> int:
    state = await asyncio.to_thread(key_state, ledger, request.referral_id)
    if state in WHY_NOT:
        return await _nothing(audit, request, WHY_NOT[state].format(request.referral_id))
    try:
        nc = await connect(settings, ADMIN, **ONCE)
    except (NatsError, OSError) as error:
        return await _nothing(audit, request, f"cannot connect to NATS as the operator (admin nkey): {error}")
    try:
        report = await _erase(settings, ledger, nc, request, already=state == KeyState.DESTROYED)
    finally:
        await nc.close()
    print(report.text(), flush=True)
    await audit.arecord(report.entry(request.actor.name))
    return EXIT_OK if report.complete else EXIT_INCOMPLETE


async def _erase(
    settings: Settings, ledger: ReferralLedger, nc: Client, request: Request, already: bool
) -> Report:
    """Steps 1 to 4: the key, the store's files, the facts in, the streams."""
    keys = ledger.patient_keys
    referrals = await asyncio.to_thread(keys.forget, request.referral_id)
    residue = await asyncio.to_thread(clear_key_residue, keys.datastore, settings.store == "postgres")
    facts = [forgotten_fact(rid, request.referral_id, request.actor) for rid in referrals]
    bus = await _on_the_bus(nc, facts, request.wait_s)
    recorded = await asyncio.to_thread(_recorded, ledger, facts)
    return Report(request.referral_id, already, referrals, recorded, residue, bus)


def key_state(ledger: ReferralLedger, referral_id: UUID) -> KeyState:
    """Whether the referral's patient has a key, and whether it was destroyed already."""
    referral = ledger.referral(referral_id)
    if referral is None:
        return KeyState.UNKNOWN
    key_id = referral.patient_key_id
    if key_id is None:
        return KeyState.UNSEALED
    return KeyState.LIVE if ledger.patient_keys.keys([key_id])[key_id] is not None else KeyState.DESTROYED


async def _nothing(audit: AuditLog, request: Request, why: str) -> int:
    print(f"forget-patient: {why}; nothing was forgotten", file=sys.stderr)
    await _failed(audit, request, why)
    return EXIT_NOTHING


async def _failed(audit: AuditLog, request: Request, why: str) -> None:
    named = (str(request.referral_id),)
    await audit.arecord(AuditEvent(request.actor.name, ROLE, "erase", "patient", "failed", named, why))


async def _on_the_bus(nc: Client, facts: list[PatientForgotten], wait_s: float) -> BusErasure:
    try:
        return await on_the_bus(nc, facts, wait_s, _progress)
    except (NatsError, TimeoutError) as error:
        return BusErasure(problems=[f"NATS failed during the erasure ({type(error).__name__})"])


def _progress(stream: str, scanned: int, total: int) -> None:
    print(
        f"forget-patient: scanning {stream}: {scanned:,} of {total:,} messages", file=sys.stderr, flush=True
    )


def _recorded(ledger: ReferralLedger, facts: list[PatientForgotten]) -> int:
    """How many of the PatientForgotten facts the store holds."""
    return sum(1 for f in facts if (r := ledger.referral(f.referral_id)) is not None and r.has_recorded(f))
