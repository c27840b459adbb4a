"""Who runs an ops command (forget-patient, report): the name its audit entries carry."""

from __future__ import annotations

import getpass
import os

ROLE = "admin"
"""An operator at the deployment's files and settings can do what an admin can."""


def os_user() -> str:
    """The OS user running the command."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (a container's)
        return f"uid {os.getuid()}"
