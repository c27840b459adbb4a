"""The committed JSON Schemas and AsyncAPI document match the code, and versions are immutable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from contracts import bus
from contracts.asyncapi import asyncapi_document
from contracts.events import FACT_TYPES
from contracts.export import (
    ASYNCAPI_PATH,
    SCHEMAS_DIR,
    SchemaChangedError,
    export_asyncapi,
    export_schemas,
    fact_schema,
    main,
    render,
    schema_filename,
)

BUMP = (
    "The JSON Schema of {type} changed but its schema_version did not: raise schema_version "
    "in contracts/events.py, then run `make contracts` to export the new version."
)
STALE = "{path} is stale or missing: run `make contracts` (python -m contracts.export)."


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi_document()


@pytest.mark.parametrize("fact_type", sorted(FACT_TYPES))
def test_the_committed_schema_of_the_current_version_is_current(fact_type: str) -> None:
    path = SCHEMAS_DIR / schema_filename(fact_type, FACT_TYPES[fact_type])
    assert path.is_file(), STALE.format(path=path)
    committed = path.read_text(encoding="utf-8")
    assert committed == render(fact_schema(FACT_TYPES[fact_type])), BUMP.format(type=fact_type)


def test_rendering_is_canonical() -> None:
    text = render({"b": [2, 1], "a": {"d": 1, "c": "é"}})
    assert text == '{\n  "a": {\n    "c": "é",\n    "d": 1\n  },\n  "b": [\n    2,\n    1\n  ]\n}\n'


def test_export_is_deterministic(tmp_path: Path) -> None:
    first = export_schemas(tmp_path / "schemas")
    assert export_asyncapi(tmp_path / "asyncapi.json")
    snapshot = {path.name: path.read_bytes() for path in (tmp_path / "schemas").iterdir()}
    assert sorted(snapshot) == sorted(path.name for path in first)
    assert len(snapshot) == len(FACT_TYPES)
    assert export_schemas(tmp_path / "schemas") == []
    assert not export_asyncapi(tmp_path / "asyncapi.json")
    assert snapshot == {path.name: path.read_bytes() for path in (tmp_path / "schemas").iterdir()}


def tamper(path: Path) -> str:
    """Change a schema file as an older version of the code would have written it."""
    schema = json.loads(path.read_text(encoding="utf-8"))
    schema["properties"]["legacy"] = {"type": "string"}
    text = render(schema)
    path.write_text(text, encoding="utf-8")
    return text


def test_the_exporter_refuses_to_overwrite_a_changed_schema(tmp_path: Path) -> None:
    export_schemas(tmp_path)
    changed = tmp_path / schema_filename("ReportSent", FACT_TYPES["ReportSent"])
    tampered = tamper(changed)
    other = tmp_path / schema_filename("PatientSeen", FACT_TYPES["PatientSeen"])
    other.unlink()
    message = "schema of ReportSent changed without a version bump: raise schema_version"
    with pytest.raises(SchemaChangedError, match=message):
        export_schemas(tmp_path)
    assert changed.read_text(encoding="utf-8") == tampered
    assert not other.exists(), "a refused export must write nothing"


def test_force_overwrites_a_changed_schema(tmp_path: Path) -> None:
    export_schemas(tmp_path)
    changed = tmp_path / schema_filename("ReportSent", FACT_TYPES["ReportSent"])
    tamper(changed)
    assert export_schemas(tmp_path, force=True) == [changed]
    assert changed.read_text(encoding="utf-8") == render(fact_schema(FACT_TYPES["ReportSent"]))


def test_older_versions_are_left_alone(tmp_path: Path) -> None:
    older = tmp_path / "ReportSent.v0.json"
    older.write_text('{"title": "ReportSent"}\n', encoding="utf-8")
    export_schemas(tmp_path)
    assert older.read_text(encoding="utf-8") == '{"title": "ReportSent"}\n'


def test_the_command_exits_non_zero_on_a_changed_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--schemas-dir", str(tmp_path / "schemas"), "--asyncapi", str(tmp_path / "a.json")]
    assert main(args) == 0
    tamper(tmp_path / "schemas" / schema_filename("ReportSent", FACT_TYPES["ReportSent"]))
    capsys.readouterr()
    assert main(args) == 1
    error = capsys.readouterr().err
    assert "schema of ReportSent changed without a version bump: raise schema_version" in error
    assert main([*args, "--force"]) == 0


def test_the_committed_asyncapi_document_is_current(document: dict[str, Any]) -> None:
    assert ASYNCAPI_PATH.is_file(), STALE.format(path=ASYNCAPI_PATH)
    committed = json.loads(ASYNCAPI_PATH.read_text(encoding="utf-8"))
    assert "asyncapi" in committed
    assert committed == json.loads(render(document)), STALE.format(path=ASYNCAPI_PATH)


def test_asyncapi_names_the_service_and_its_version(document: dict[str, Any]) -> None:
    assert document["asyncapi"].startswith("3.")
    assert document["info"]["title"] == "Referral Loop"
    assert document["info"]["version"]


def operations_on(document: dict[str, Any], address: str) -> set[str]:
    """The actions ('send', 'receive') of every operation on the channel with this address."""
    keys = {key for key, channel in document["channels"].items() if channel["address"] == address}
    return {
        operation["action"]
        for operation in document["operations"].values()
        if operation["channel"]["$ref"].removeprefix("#/channels/") in keys
    }


@pytest.mark.parametrize("fact_type", sorted(FACT_TYPES))
def test_asyncapi_names_every_fact_subject(document: dict[str, Any], fact_type: str) -> None:
    subject = bus.subject_for(fact_type)
    assert operations_on(document, subject) == {"send"}
    assert operations_on(document, bus.deadletter_subject(subject)) == {"send"}


def test_asyncapi_has_the_store_writer_reading_every_fact(document: dict[str, Any]) -> None:
    assert operations_on(document, f"{bus.SUBJECT_PREFIX}.>") == {"receive"}
    union = document["components"]["schemas"]["AnyFact"]
    assert len(union["oneOf"]) == len(FACT_TYPES)


@pytest.mark.parametrize("fact_type", sorted(FACT_TYPES))
def test_asyncapi_payload_is_the_exported_schema(document: dict[str, Any], fact_type: str) -> None:
    schema = fact_schema(FACT_TYPES[fact_type])
    schema.pop("$defs", None)
    as_component = json.loads(json.dumps(schema).replace("#/$defs/", "#/components/schemas/"))
    assert document["components"]["schemas"][fact_type] == as_component
