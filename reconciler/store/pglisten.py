"""How PostgreSQL store readers are woken and controllers lead (used by `pgstore` only).

- `Notifier`: one dedicated autocommit connection per store that LISTENs for new revisions
  and wakes the waiters. On each (re)connect it LISTENs first and then reads the head, so no
  revision committed while it was away goes unnoticed; a slow poll of the head stands in for
  a notification lost. NOTIFY carries only the revision number: readers then read the
  revisions table.
- `PgLease`: a leader's advisory lock and epoch, with a heartbeat on the lock's own
  connection.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

CHANNEL = "meshctl_revisions"
POLL_INTERVAL = 2.0  # the change feed's fallback poll, for a notification lost
HEARTBEAT = 1.0  # seconds between a leader's checks that its lock connection lives


class Notifier:
    """One dedicated autocommit connection per store that LISTENs for new revisions and
    wakes the waiters. On each connect it LISTENs first and then reads the head, so no
    revision committed while it was away goes unnoticed; a slow poll of the head stands in
    for a notification lost. Started on first use."""

    def __init__(self, url: str, location: str) -> None:
        self._url, self._location = url, location
        self._condition = threading.Condition()
        self.latest = 0
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def wait_beyond(self, number: int, timeout: float) -> None:
        """Wait up to `timeout` s until a revision after `number` may exist."""
        self._start()
        with self._condition:
            self._condition.wait_for(lambda: self.latest > number or self._closed.is_set(),
                                     timeout)

    def _start(self) -> None:
        with self._condition:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="meshctl-pg-listen")
                self._thread.start()

    def close(self) -> None:
        self._closed.set()
        with self._condition:
            self._condition.notify_all()

    def _saw(self, number: int) -> None:
        with self._condition:
            if number > self.latest:
                self.latest = number
                self._condition.notify_all()

    def _run(self) -> None:
        import psycopg

        while not self._closed.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    row = conn.execute("SELECT revision FROM meshctl.head").fetchone()
                    self._saw(int(row[0]) if row else 0)
                    while not self._closed.is_set():
                        noted = False
                        for note in conn.notifies(timeout=POLL_INTERVAL, stop_after=1):
                            with contextlib.suppress(ValueError):
                                self._saw(int(note.payload))
                                noted = True
                        if not noted:  # the head is polled when nothing came (not per note)
                            row = conn.execute("SELECT revision FROM meshctl.head").fetchone()
                            self._saw(int(row[0]) if row else 0)
            except psycopg.Error:
                self._closed.wait(0.5)  # the server went away: connect again shortly


class PgLease:
    """A leader's advisory lock and epoch; a heartbeat on the lock's own connection sets
    `lost` (and calls `on_lost`) the moment it fails: the leader steps down at once."""

    def __init__(self, conn: psycopg.Connection[Any], epoch: int,
                 on_lost: Callable[[], Any] | None) -> None:
        self.epoch: int | None = epoch
        self.lost = threading.Event()
        self._conn, self._on_lost = conn, on_lost
        self._released = threading.Event()
        threading.Thread(target=self._beat, daemon=True, name="meshctl-pg-lease").start()

    def _beat(self) -> None:
        import psycopg

        while not self._released.wait(HEARTBEAT):
            try:
                self._conn.execute("SELECT 1")
            except psycopg.Error:
                break
        self.lost.set()
        with contextlib.suppress(psycopg.Error):
            self._conn.close()
        if not self._released.is_set() and self._on_lost is not None:
            self._on_lost()

    def release(self) -> None:
        self._released.set()
        self.lost.set()
        import psycopg

        with contextlib.suppress(psycopg.Error):
            self._conn.close()
