"""`make audit`'s pip-audit verdict: a known vulnerability fails the build; an unreachable
vulnerability database (nothing audited) is a loud warning, never a silent pass."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def wrapper() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pip_audit_wrapper", ROOT / ".ci" / "pip_audit.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def report(*dependencies: dict[str, object]) -> str:
    return json.dumps({"dependencies": list(dependencies), "fixes": []})


def test_a_known_vulnerability_fails_the_build() -> None:
    vulnerable = {"name": "jinja2", "version": "2.10", "vulns": [{"id": "GHSA-462w-v97r-4m45"}]}
    code, message = wrapper().verdict(1, report(vulnerable, {"name": "x", "version": "1", "vulns": []}), "")
    assert code == 1 and "jinja2 2.10: GHSA-462w-v97r-4m45" in message


def test_no_network_warns_that_nothing_was_audited_and_does_not_fail() -> None:
    stderr = "requests.exceptions.ConnectionError: Max retries exceeded with url: /pypi/jinja2/json"
    code, message = wrapper().verdict(1, "", stderr)
    assert code == 0 and message.startswith("WARNING") and "NOTHING WAS AUDITED" in message


def test_a_mirror_that_knows_no_package_is_not_taken_for_a_clean_audit() -> None:
    skipped = {"name": "jinja2", "skip_reason": "Dependency not found on PyPI and could not be audited"}
    code, message = wrapper().verdict(0, report(skipped, {**skipped, "name": "x"}), "")
    assert code == 0 and message.startswith("WARNING") and "NOTHING WAS AUDITED" in message


def test_a_clean_audit_passes_and_an_unexplained_failure_fails() -> None:
    clean = wrapper().verdict(0, report({"name": "jinja2", "version": "3.1.6", "vulns": []}), "")
    assert clean == (0, "pip-audit: 1 packages audited, no known vulnerabilities.")
    assert wrapper().verdict(2, "", "usage: pip-audit: error: bad option")[0] == 2
