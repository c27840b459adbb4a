"""Facts a follower cannot apply, told apart from a store that is down, and the entry setting one aside.

A follower (feedback, the projector, a rebuild) must never stop on one fact. When a page fails,
`caused_by_fact` decides, here and nowhere else, whether a fact is to blame (a value out of
range, an overflow in date arithmetic, a contract the stored fact no longer meets ...) or the
infrastructure (a locked, full or unreachable database, a file that cannot be written, the store
key missing, a position another writer moved). Infrastructure: the page is retried, as always.
A fact: the follower finds exactly the facts that fail (`follower.settle`) and sets each aside,
recording a `SetAside` in its own store in the transaction that moves its position past it.

A reason names the error's type, where it was raised and, for a failed validation, the field
paths and messages: never a value (a validation error's input, or most messages, may quote PHI).
"""

from __future__ import annotations

import sqlite3
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing import persistence
from pydantic import ValidationError

from referral_loop.keys import StoreKeyError

FACT_ERRORS: tuple[type[BaseException], ...] = (
    ArithmeticError,  # OverflowError: a date or time out of the calendar's range
    ValueError,  # pydantic's ValidationError, a bad ISO date, JSON that does not parse ...
    TypeError,
    KeyError,
    IndexError,
    sqlite3.DataError,
    psycopg.DataError,
    persistence.DataError,
    persistence.MapperDeserialisationError,
)
"""What applying or decoding one fact raises when the fact itself is to blame."""
DATA_ERRORS = (sqlite3.DataError, psycopg.DataError, persistence.DataError)
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    MemoryError,
    sqlite3.Error,
    psycopg.Error,
    persistence.PersistenceError,
    StoreKeyError,
)
"""What a store, a disk or a key raises: never a fact's fault (data errors excepted)."""
SAFE_MESSAGES = (ArithmeticError,)
"""Errors whose message is the runtime's own fixed text ('date value out of range'), never a value."""
MAX_REASON = 500


@dataclass(frozen=True)
class SetAside:
    """A fact a follower could not apply and moved past: what its store records and ops see."""

    position: int
    fact_type: str
    reason: str
    referral_id: str | None = None
    event_id: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "fact_type": self.fact_type,
            "reason": self.reason,
            "referral_id": self.referral_id,
            "event_id": self.event_id,
            "at": self.at.isoformat(),
        }


def caused_by_fact(error: BaseException) -> bool:
    """Whether `error` comes from the fact being applied, not from the infrastructure: an error
    of a fact's kind with no infrastructure error anywhere in its chain."""
    if not isinstance(error, FACT_ERRORS):
        return False
    return not any(_infrastructure(e) for e in _chain(error))


def _infrastructure(error: BaseException) -> bool:
    return isinstance(error, INFRASTRUCTURE_ERRORS) and not isinstance(error, DATA_ERRORS)


def _chain(error: BaseException) -> list[BaseException]:
    """The error and those it was raised from or while handling (at most 10)."""
    found: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and len(found) < 10 and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def reason(error: BaseException) -> str:
    """Why a fact was set aside, with no value in it: the error's type and where it was raised;
    for a failed validation each field's path and message; the runtime's own text for an overflow."""
    validation = next((e for e in _chain(error) if isinstance(e, ValidationError)), None)
    if validation is not None:
        fields = (
            f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}"
            for e in validation.errors(include_input=False, include_url=False, include_context=False)
        )
        text = "failed validation: " + "; ".join(fields)
    else:
        text = type(error).__name__ + (f" ({error})" if isinstance(error, SAFE_MESSAGES) else "")
        text += where(error)
    return "".join(ch if ch.isprintable() else "?" for ch in text[:MAX_REASON])


def where(error: BaseException) -> str:
    """' in <file>:<line> (<function>)' of the innermost frame that raised `error`, if known."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f" in {Path(last.filename).name}:{last.lineno} ({last.name})"
