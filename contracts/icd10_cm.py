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
    """Each code's description; a 7th-character extension's is its parent's and the character's."""
    with _data(_TABULAR).open("rb") as tabular:
        root = ET.parse(tabular).getroot()  # noqa: S314 (CMS's own file, shipped in the package)
    found: dict[str, str] = {}
    for section in root.iter("section"):
        for diag in section.findall("diag"):
            _walk(diag, {}, found)
    return found


def _walk(diag: ET.Element, extensions: dict[str, str], found: dict[str, str]) -> None:
    name, desc = diag.findtext("name", ""), diag.findtext("desc", "")
    bare = name.replace(".", "")
    found[bare] = desc
    own = {e.get("char", ""): e.text or "" for e in diag.findall("sevenChrDef/extension")}
    inherited = own or extensions
    children = diag.findall("diag")
    for child in children:
        _walk(child, inherited, found)
    if not children and inherited:
        padded = bare.ljust(6, "X")
        for char, meaning in inherited.items():
            if padded + char in _codes():
                found[padded + char] = f"{desc}, {meaning}"
