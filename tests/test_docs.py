"""The docs stay true: every setting is in the README's table, every documented variable exists."""

from __future__ import annotations

import re
from pathlib import Path

from referral_loop.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_documents_every_setting_and_no_other() -> None:
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(rf"^\| `({ENV_PREFIX}[A-Z0-9_]+)` \|", readme, re.M))
    expected = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    assert documented == expected, f"missing: {expected - documented}; unknown: {documented - expected}"


def test_the_readme_shows_the_two_commands_and_ci_runs_the_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_example_referral_is_valid() -> None:
    from contracts.referral import Referral

    Referral.model_validate_json((ROOT / "examples" / "referral.json").read_text())
