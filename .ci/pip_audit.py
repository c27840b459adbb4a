"""pip-audit over the installed environment, for `make audit` and CI.

Fails (exit 1) when a known vulnerability is found. When the vulnerability database cannot be
reached (no network, a proxy, a mirror that knows none of the packages), nothing was audited:
that is said plainly as a WARNING and does not fail the build, because a CI machine without
internet access must still be able to run the suite; the warning is the signal to audit elsewhere.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

COMMAND = [sys.executable, "-m", "pip_audit", "-f", "json", "--skip-editable", "--progress-spinner", "off"]
UNREACHABLE = (
    "ConnectionError",
    "Max retries exceeded",
    "Name or service not known",
    "Temporary failure in name resolution",
    "timed out",
    "NewConnectionError",
    "ProxyError",
    "SSLError",
    "HTTPError",
)


def verdict(returncode: int, stdout: str, stderr: str) -> tuple[int, str]:
    """(exit code, what to print) for one pip-audit run's outcome."""
    dependencies = _dependencies(stdout)
    vulnerable = [d for d in dependencies if d.get("vulns")]
    if vulnerable:
        lines = [
            f"  {d['name']} {d.get('version', '')}: {', '.join(v['id'] for v in d['vulns'])}"
            for d in vulnerable
        ]
        return 1, "pip-audit: known vulnerabilities found:\n" + "\n".join(lines)
    if returncode != 0:
        if any(sign in stderr for sign in UNREACHABLE):
            return (
                0,
                "WARNING: pip-audit could not reach the vulnerability database; NOTHING WAS AUDITED.\n"
                + _tail(stderr),
            )
        return returncode, "pip-audit failed:\n" + _tail(stderr)
    audited = [d for d in dependencies if "skip_reason" not in d]
    if dependencies and not audited:
        return 0, (
            f"WARNING: the vulnerability database knew none of the {len(dependencies)} installed packages "
            "(no network, or a mirror without vulnerability data); NOTHING WAS AUDITED."
        )
    skipped = len(dependencies) - len(audited)
    note = f" ({skipped} not found in the database, not audited)" if skipped else ""
    return 0, f"pip-audit: {len(audited)} packages audited, no known vulnerabilities{note}."


def _dependencies(stdout: str) -> list[dict[str, Any]]:
    try:
        found: list[dict[str, Any]] = json.loads(stdout)["dependencies"]
    except (ValueError, KeyError, TypeError):
        return []
    return found


def _tail(text: str, lines: int = 5) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def main() -> int:
    done = subprocess.run(COMMAND, capture_output=True, text=True, check=False, timeout=600)  # noqa: S603
    code, message = verdict(done.returncode, done.stdout, done.stderr)
    print(message, file=sys.stderr if code or message.startswith("WARNING") else sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(main())
