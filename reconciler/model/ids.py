"""The one definition of a safe resource id.

Workflow ids become file names, so every id must be a plain file-name-safe token; the check
runs before any path is built from an id.
"""

from __future__ import annotations

import re

MAX_ID_LENGTH = 128
_SAFE_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")


def id_problem(value: object) -> str | None:
    """Return why `value` is not a safe id, or None when it is one."""
    if not isinstance(value, str):
        return f"must be a string, not {type(value).__name__}"
    if not value:
        return "must not be empty"
    if len(value) > MAX_ID_LENGTH:
        return f"is {len(value)} characters long; at most {MAX_ID_LENGTH} are allowed"
    if value.startswith("."):
        return "must not start with a dot"
    if not _SAFE_ID.fullmatch(value):
        return "may contain only letters, digits, '_', '-' and '.' (no spaces or path separators)"
    return None
