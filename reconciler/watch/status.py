"""The watch controller's status (what it last did), kept in the store's metadata area under
`watch-status`, for `meshctl status`, the API and the panel. Replaced whole on each change,
so a reader never sees half of one."""

from __future__ import annotations

import os
from typing import Any

from reconciler.errors import StoreError
from reconciler.store import Store

FORMAT = 1
STATUS_NAME = "watch-status"


def write(store: Store, status: dict[str, Any]) -> None:
    store.put_meta(STATUS_NAME, {"format": FORMAT, **status})


def read(store: Store) -> dict[str, Any] | None:
    """The last status written, or None when no controller ever ran on this store (or what
    is there is not one this code wrote)."""
    try:
        found = store.get_meta(STATUS_NAME)
    except StoreError:
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
