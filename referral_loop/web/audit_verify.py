"""`referral-loop audit verify`: walk the audit log's chain and name the first entry that breaks it.

Each entry, oldest first: its `prev_hash` must be the hash of the entry before (GENESIS for the
first chained one), its hash must match its fields, and its MAC must match under the key its
`key_id` names, when verify has that key (the configured store key's, and `--old-key-file` for
store keys rotated away). An entry under a key not given is checked for its hash and link only;
a later entry with a checked MAC pins it. Entries written before the chain existed (no hash) are
counted, and may only come first.

Exit status: 0 intact; 1 broken (the entry and what is wrong are printed); 2 a key given cannot
be read or is malformed; 3 intact, but the newest entries carry no MAC checked with a key given
while keys are in play: they could have been rewritten by someone with the files and without the
key. What the chain cannot show by itself: the newest entries removed (the rest still links);
compare the head it prints with one kept elsewhere (`--head SEQ:HASH`).
"""

from __future__ import annotations

import argparse
import hmac
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from referral_loop.keys import StoreKeyError, store_key
from referral_loop.settings import Settings
from referral_loop.web.audit import AuditLog
from referral_loop.web.audit_chain import GENESIS, ChainKey, entry_hash

PAGE = 5000
EXIT_INTACT, EXIT_BROKEN, EXIT_USAGE, EXIT_UNAUTHENTICATED = 0, 1, 2, 3


@dataclass
class Walk:
    """What the walk found so far."""

    keys: dict[str, ChainKey]
    unchained: int = 0
    chained: int = 0
    last: tuple[int, str] | None = None
    """The newest chained entry: seq and hash."""
    unauthenticated: int = 0
    """Chained entries after the newest whose MAC was checked."""
    broken: str = ""
    key_ids: set[str] = field(default_factory=set)
    """The keys the chained entries name, given or not."""
    seen: dict[int, str] = field(default_factory=dict)
    """The hash of the entry `--head` names, when the walk passed it."""

    def step(self, row: tuple[Any, ...], head_seq: int | None) -> None:
        seq, fields, (prev, digest, mac, key_id) = int(row[0]), tuple(map(str, row[1:10])), row[10:]
        if digest is None:
            self._unchained(seq)
        elif prev != (self.last[1] if self.last else GENESIS):
            before = f"of entry {self.last[0]}" if self.last else "GENESIS (it is the first chained entry)"
            self.broken = (
                f"entry {seq}: its prev_hash is not the hash {before}: entries were removed before it"
            )
        elif entry_hash(prev, fields) != digest:
            self.broken = f"entry {seq}: its fields do not match its hash: it was edited"
        else:
            self._mac(seq, digest, mac, key_id)
            self.chained, self.last = self.chained + 1, (seq, digest)
            if seq == head_seq:
                self.seen[seq] = digest

    def _unchained(self, seq: int) -> None:
        if self.last is None:
            self.unchained += 1
        else:
            self.broken = f"entry {seq}: it has no hash, after chained entries: written around the chain"

    def _mac(self, seq: int, digest: str, mac: str | None, key_id: str | None) -> None:
        self.key_ids |= {key_id} if key_id else set()
        key = self.keys.get(key_id or "")
        if key is None:
            self.unauthenticated += 1
        elif hmac.compare_digest(key.mac(digest), mac or ""):
            self.unauthenticated = 0
        else:
            self.broken = f"entry {seq}: its MAC does not match under key {key_id}: rewritten without the key"


def verify(log: AuditLog, keys: dict[str, ChainKey], head: tuple[int, str] | None = None) -> Walk:
    walk = Walk(keys)
    for row in rows(log):
        walk.step(row, head[0] if head else None)
        if walk.broken:
            return walk
    if head and walk.seen.get(head[0]) != head[1]:
        walk.broken = f"entry {head[0]}: not in the chain with hash {head[1]}: the trail was cut or rewritten"
    return walk


def rows(log: AuditLog) -> Iterator[tuple[Any, ...]]:
    after = 0
    while page := log.chained(after, PAGE):
        yield from page
        after = int(page[-1][0])


def summary(walk: Walk) -> tuple[int, str]:
    """The exit status and what to print."""
    if walk.broken:
        return (
            EXIT_BROKEN,
            f"audit verify: BROKEN at {walk.broken} ({walk.chained:,} entries intact before it)",
        )
    head = f"head {walk.last[0]}:{walk.last[1]} (keep it: --head)" if walk.last else "no chained entries"
    before = f"; {walk.unchained:,} entries from before the chain" if walk.unchained else ""
    text = f"audit verify: intact: {walk.chained:,} chained entries{before}; {head}"
    if walk.unauthenticated and (walk.keys or walk.key_ids):
        given = ", ".join(sorted(walk.keys)) or "none"
        note = f"the newest {walk.unauthenticated:,} entries carry no MAC checked with a key given ({given})"
        return EXIT_UNAUTHENTICATED, f"{text}\n  {note}: not authenticated"
    if not walk.keys:
        return (
            EXIT_INTACT,
            f"{text}\n  no store key: hashes checked, no MAC (anyone with the files can rechain)",
        )
    return EXIT_INTACT, text


def keys_of(settings: Settings, old_key_files: list[Path]) -> dict[str, ChainKey]:
    """The chain keys of the configured store key and of the old store keys given (a key that
    cannot be read or is malformed raises StoreKeyError: verify never checks less than asked)."""
    given = [
        settings,
        *(settings.model_copy(update={"store_key": None, "store_key_file": p}) for p in old_key_files),
    ]
    found = [ChainKey.derive(key) for key in map(store_key, given) if key]
    return {key.key_id: key for key in found}


def run(settings: Settings, args: argparse.Namespace) -> int:
    """`referral-loop audit verify` (arguments: `configure`)."""
    try:
        keys = keys_of(settings, args.old_key_file)
    except StoreKeyError as error:
        print(f"audit verify: {error}", file=sys.stderr)
        return EXIT_USAGE
    log = AuditLog(settings, "audit-verify")
    try:
        code, text = summary(verify(log, keys, args.head))
    finally:
        log.close()
    print(text, flush=True)
    return code
