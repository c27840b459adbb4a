"""Text hygiene: the characters free text may not carry.

A one-line field (a name, a payer, a reference) takes no line break, NUL, escape or other control
character; multi-line text (a reason, the consult summary) takes line breaks and tabs but no other
control. Neither takes the bidirectional overrides and isolates that make text display other than
it reads (CVE-2021-42574, "Trojan Source"). Recorded facts are not checked again (STORED_CONTEXT):
what was accepted then replays as it was.
"""

from __future__ import annotations

import re

from pydantic import ValidationInfo

from contracts.forgetting import validating_stored

_BIDI = "\u202a-\u202e\u2066-\u2069"
_ONE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI}]")
_MULTI_LINE = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}]")


def _refuse(found: re.Match[str], where: str) -> None:
    raise ValueError(f"contains a control or text-direction character (U+{ord(found.group()):04X}); {where}")


def check_one_line(value: str, info: ValidationInfo) -> str:
    """One line of plain text: no line break, tab, control or text-direction override."""
    found = None if validating_stored(info.context) else _ONE_LINE.search(value)
    if found:
        _refuse(found, "use one line of plain text")
    return value


def check_multi_line(value: str, info: ValidationInfo) -> str:
    """Plain text over several lines: line breaks and tabs, no other control or override."""
    found = None if validating_stored(info.context) else _MULTI_LINE.search(value)
    if found:
        _refuse(found, "use plain text")
    return value
