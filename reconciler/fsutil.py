"""File-system helpers: replacing a small file so a reader sees the old bytes or the new,
never half of either; and quieting watchdog's benign shutdown race."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write `data` to a temporary file beside `path`, then rename it over `path`. (No
    fsync: for caches and status files, where losing the last write to a power cut is fine;
    the registries themselves are committed through the store's journal.)"""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class _StopRace(logging.Filter):
    """watchdog logs an error when its inotify thread reads once more while being stopped:
    a benign race at shutdown (nothing is lost), dropped so a clean exit logs nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "called when the thread is inactive" not in record.getMessage()


def quiet_watchdog_stop() -> None:
    """Install `_StopRace` on watchdog's inotify logger (once)."""
    target = logging.getLogger("watchdog.observers.inotify")
    if not any(isinstance(f, _StopRace) for f in target.filters):
        target.addFilter(_StopRace())
