"""Export the contracts: one JSON Schema per event type and version, and the AsyncAPI document.

    python -m contracts.export [--force] [--schemas-dir DIR] [--asyncapi FILE]

Writes `contracts/schemas/<Type>.v<schema_version>.json` for every fact type and
`contracts/asyncapi.json`. Schemas are pydantic's validation-mode JSON Schema (what
`parse_fact` accepts, and what FastStream puts in the AsyncAPI document), rendered with
sorted keys, indent 2 and a trailing newline, so the output is byte-for-byte deterministic.

A committed schema file is a published version: the exporter refuses to overwrite one with
different content unless --force is given. Change a schema, raise its `schema_version`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from contracts.asyncapi import asyncapi_document
from contracts.envelope import Fact
from contracts.events import FACT_TYPES

CONTRACTS_DIR = Path(__file__).resolve().parent
SCHEMAS_DIR = CONTRACTS_DIR / "schemas"
ASYNCAPI_PATH = CONTRACTS_DIR / "asyncapi.json"
SCHEMA_MODE: Final = "validation"


class SchemaChangedError(Exception):
    """A schema differs from the one already exported for the same type and version."""

    def __init__(self, fact_type: str, path: Path) -> None:
        super().__init__(
            f"schema of {fact_type} changed without a version bump: raise schema_version "
            f"(in contracts/events.py) and export again; {path} would be overwritten"
        )
        self.fact_type = fact_type
        self.path = path


def render(document: Any) -> str:
    """The one canonical JSON text: sorted keys, indent 2, trailing newline."""
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def schema_version(fact_class: type[Fact]) -> int:
    """The fact class's current schema_version (the default of its Literal field)."""
    version = fact_class.model_fields["schema_version"].default
    if not isinstance(version, int):
        raise TypeError(f"{fact_class.__name__}.schema_version has no integer default")
    return version


def schema_filename(fact_type: str, fact_class: type[Fact]) -> str:
    """The schema file's name, e.g. ReferralReceived.v1.json."""
    return f"{fact_type}.v{schema_version(fact_class)}.json"


def fact_schema(fact_class: type[Fact]) -> dict[str, Any]:
    """The JSON Schema of one fact class, in SCHEMA_MODE."""
    return fact_class.model_json_schema(mode=SCHEMA_MODE)


def rendered_schemas() -> dict[str, tuple[str, str]]:
    """Every fact type's schema file name and rendered text, keyed by type."""
    return {
        fact_type: (schema_filename(fact_type, fact_class), render(fact_schema(fact_class)))
        for fact_type, fact_class in FACT_TYPES.items()
    }


def check_unchanged(out_dir: Path, schemas: dict[str, tuple[str, str]]) -> None:
    """Raise SchemaChangedError for the first exported schema whose content would change."""
    for fact_type, (filename, text) in schemas.items():
        path = out_dir / filename
        if path.exists() and path.read_text(encoding="utf-8") != text:
            raise SchemaChangedError(fact_type, path)


def write_if_changed(path: Path, text: str) -> bool:
    """Write `text` unless the file already holds exactly it; True when written."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")
    return True


def export_schemas(out_dir: Path = SCHEMAS_DIR, *, force: bool = False) -> list[Path]:
    """Write every fact type's current schema to out_dir; returns the files written.

    Checks all of them before writing any, so a refusal leaves the directory untouched.
    """
    schemas = rendered_schemas()
    if not force:
        check_unchanged(out_dir, schemas)
    return [
        out_dir / filename
        for filename, text in schemas.values()
        if write_if_changed(out_dir / filename, text)
    ]


def export_asyncapi(path: Path = ASYNCAPI_PATH) -> bool:
    """Write the AsyncAPI document to path; True when its content changed."""
    return write_if_changed(path, render(asyncapi_document()))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m contracts.export", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--force", action="store_true", help="overwrite a changed schema of the same version")
    parser.add_argument("--schemas-dir", type=Path, default=SCHEMAS_DIR)
    parser.add_argument("--asyncapi", type=Path, default=ASYNCAPI_PATH)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Export everything; 1 when a schema changed without a version bump, else 0."""
    args = parse_args(argv)
    try:
        written = export_schemas(args.schemas_dir, force=args.force)
    except SchemaChangedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    if export_asyncapi(args.asyncapi):
        print(f"wrote {args.asyncapi}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
