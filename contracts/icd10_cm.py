"""The ICD-10-CM code set (CMS's files, as `simple-icd-10-cm` packages them): which codes exist,
and what each one means.

Read straight from the package's data files rather than through its API: the API builds the whole
classification tree at import (about 1.5 s and 150 MB a process), while the set of codes is a
text file of 800 kB and the descriptions are wanted only where a referral is shown. Both load
once, on first use.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import Final

_CODES: Final = "code-list-April-2026.txt"
_TABULAR: Final = "icd10c-tabular-April-1-2026.xml"


def _data(name: str) -> Path:
    """A file of the package's data, found without importing the package (which loads it all)."""
    spec = find_spec("simple_icd_10_cm")
    assert spec is not None and spec.submodule_search_locations is not None, "simple-icd-10-cm missing"
    return Path(next(iter(spec.submodule_search_locations))) / "data" / name


@cache
def _codes() -> frozenset[str]:
    """Every code of chapter blocks, categories, subcategories and 7th-character extensions,
    without its dot (chapters, numbered, and blocks, with a dash, are not codes one assigns)."""
    text = _data(_CODES).read_text(encoding="utf-8")
    return frozenset(
        c for line in text.splitlines() if (c := line.strip()) and c[0].isalpha() and "-" not in c
    )


def load() -> None:
    """Read the code set and the descriptions now (blocking: a service calls it in a thread at
    start, so the first referral shown does not pay the third of a second)."""
    _codes()
    _descriptions()


def exists(code: str) -> bool:
    """Whether `code` (with or without its dot) is in the current ICD-10-CM code set."""
    return code.replace(".", "").upper() in _codes()


def with_dot(code: str) -> str:
    """The code as written: the dot after its third character (when it has more)."""
    bare = code.replace(".", "").upper()
    return f"{bare[:3]}.{bare[3:]}" if len(bare) > 3 else bare


def describe(code: str) -> str | None:
    """The code's description (e.g. E11.9: 'Type 2 diabetes mellitus without complications');
    None for a code outside the set."""
    return _descriptions().get(code.replace(".", "").upper())


@cache
def _descriptions() -> dict[str, str]:
    """Each code's description; a 7th-character extension's is its parent's and the character's.

    Read as a stream (the tree of the whole file would cost about 80 MB at its peak): each open
    `diag` is a frame on a stack that collects its name, description and 7th characters."""
    found: dict[str, str] = {}
    stack: list[_Diag] = []
    with _data(_TABULAR).open("rb") as tabular:
        for event, element in ET.iterparse(tabular, events=("start", "end")):  # noqa: S314 (CMS's file)
            if element.tag == "diag":
                if event == "start":
                    stack.append(_Diag(inherited=stack[-1].extensions if stack else {}))
                else:
                    _close(stack.pop(), stack, found)
                    element.clear()
            elif event == "end" and stack:
                _collect(element, stack[-1])
    return found


class _Diag:
    """An open `diag` element: what it says so far."""

    def __init__(self, inherited: dict[str, str]) -> None:
        self.name = self.desc = ""
        self.extensions, self.has_children = inherited, False


def _collect(element: ET.Element, diag: _Diag) -> None:
    if element.tag == "name" and not diag.name:
        diag.name = (element.text or "").replace(".", "")
    elif element.tag == "desc" and not diag.desc:
        diag.desc = element.text or ""
    elif element.tag == "sevenChrDef":
        diag.extensions = {e.get("char", ""): e.text or "" for e in element.findall("extension")}


def _close(diag: _Diag, parents: list[_Diag], found: dict[str, str]) -> None:
    found[diag.name] = diag.desc
    if parents:
        parents[-1].has_children = True
    if not diag.has_children and diag.extensions:
        padded = diag.name.ljust(6, "X")
        for char, meaning in diag.extensions.items():
            if padded + char in _codes():
                found[padded + char] = f"{diag.desc}, {meaning}"
