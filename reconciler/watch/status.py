"""`.meshctl/status.json`: what the watch controller last did, for `meshctl status`, the API
and the panel. Replaced whole on each change, so a reader never sees half of one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

from reconciler.fsutil import write_atomically
from reconciler.store import filestore

FORMAT = 1
STATUS_FILE = "status.json"


def path_of(registries: str | os.PathLike[str]) -> Path:
    return Path(registries) / filestore.META / STATUS_FILE


def write(registries: str | os.PathLike[str], status: dict[str, Any]) -> None:
    target = path_of(registries)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, orjson.dumps({"format": FORMAT, **status},
                                          option=orjson.OPT_INDENT_2) + b"\n")


def read(registries: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The last status written, or None when no controller ever ran here (or the file is
    not one this code wrote)."""
    try:
        found = orjson.loads(path_of(registries).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return found if isinstance(found, dict) and found.get("format") == FORMAT else None


def is_running(status: dict[str, Any]) -> bool:
    """Is the controller that wrote `status` still running (on this host)?"""
    controller = status.get("controller") or {}
    pid = controller.get("pid")
    if not isinstance(pid, int) or controller.get("host") != os.uname().nodename:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not controller.get("stopped")
