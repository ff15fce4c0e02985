"""One writer at a time across processes: an advisory lock on `.meshctl/lock`.

`flock` locks belong to the open file, so the kernel releases a lock whose holder died
(`kill -9` included): a stale lock is taken over simply by taking it. Who holds it (pid, host,
command, since) is written beside it, so a writer that gives up can say whom it waited for.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reconciler.errors import LockTimeout, StoreError

POLL_SECONDS = 0.05


def holder_description(info_path: Path) -> str:
    try:
        info = json.loads(info_path.read_text())
        return (f"pid {info['pid']} on {info['host']} ({info['command']}), "
                f"since {info['since']}")
    except (OSError, ValueError, KeyError, TypeError):
        return "an unknown process"


@contextmanager
def exclusive(folder: Path, *, timeout: float, purpose: str = "") -> Iterator[None]:
    """Hold the store's write lock; wait up to `timeout` seconds, then raise LockTimeout.
    A folder that cannot be written (read-only registries) is a StoreError: nothing can
    be committed there."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = os.open(folder / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise StoreError(f"cannot write to the registries: {error.strerror or error}: "
                         f"{error.filename or folder} (a read-only directory?); nothing "
                         "changed") from error
    try:
        _acquire(handle, fcntl.LOCK_EX, folder, timeout,
                 f"gave up after {timeout:g} s (raise --lock-timeout, or wait)")
        _write_info(folder / "lock.info", purpose)
        yield
    finally:
        os.close(handle)  # releases the lock


@contextmanager
def shared(folder: Path, *, timeout: float) -> Iterator[None]:
    """Hold the lock shared (readers), so no commit is half-renamed while reading. Where the
    folder cannot be created (read-only registries) reading goes on without it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = os.open(folder / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield
        return
    try:
        _acquire(handle, fcntl.LOCK_SH, folder, timeout,
                 f"gave up reading after {timeout:g} s")
        yield
    finally:
        os.close(handle)


def _acquire(handle: int, mode: int, folder: Path, timeout: float, giving_up: str) -> None:
    """Poll for the lock until `timeout`; then name who holds it."""
    deadline = time.monotonic() + max(timeout, 0.0)
    while True:
        try:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise LockTimeout(f"the registries are locked by "
                                  f"{holder_description(folder / 'lock.info')}; {giving_up}"
                                  ) from None
            time.sleep(POLL_SECONDS)


def _write_info(path: Path, purpose: str) -> None:
    info = {"pid": os.getpid(), "host": socket.gethostname(),
            "command": purpose or " ".join(sys.argv[:3]),
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with contextlib.suppress(OSError):  # who holds it is a courtesy; the lock is the flock
        path.write_text(json.dumps(info))
