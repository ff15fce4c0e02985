"""Two registry entries as a unified diff of indented JSON with sorted keys: what
`meshctl diff`, `meshctl history show` and the panel's History page show."""

from __future__ import annotations

import difflib
import json
from typing import Any


def json_diff(before: dict[str, Any] | None, after: dict[str, Any] | None, old_name: str,
              new_name: str) -> str:
    """A unified diff of two entries (None: absent)."""
    lines = difflib.unified_diff(_lines(before), _lines(after), fromfile=old_name,
                                 tofile=new_name)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _lines(entry: dict[str, Any] | None) -> list[str]:
    if entry is None:
        return []
    text = json.dumps(entry, indent=2, sort_keys=True, ensure_ascii=False)
    return [line + "\n" for line in text.splitlines()]
