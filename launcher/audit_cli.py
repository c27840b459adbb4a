"""`referral-loop audit ...`: its command line (light to import: every command's start parses it).
The work is in audit_verify.py."""

from __future__ import annotations

import argparse
from pathlib import Path


def head_of(text: str) -> tuple[int, str]:
    seq, _, digest = text.partition(":")
    if not (seq.isdigit() and len(digest) == 64):
        raise argparse.ArgumentTypeError("use SEQ:HASH, as a verify printed it")
    return int(seq), digest


def configure(command: argparse.ArgumentParser) -> None:
    sub = command.add_subparsers(dest="audit_command", required=True)
    check = sub.add_parser("verify", help="walk the audit log's hash chain; name the first broken entry")
    check.add_argument(
        "--old-key-file",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a store key rotated away, to check the MACs of entries made under it",
    )
    check.add_argument("--head", type=head_of, metavar="SEQ:HASH",
                       help="a head printed by an earlier verify: it must still be in the chain")  # fmt: skip
