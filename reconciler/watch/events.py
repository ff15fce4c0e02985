"""The controller's inbox: every other thread (the manifest watch, the store's follower,
webhooks, the API) only puts an `Event` here; the loop thread takes them in bursts.

A burst of manifest events is let settle (`debounce`) before the loop acts, so an editor's
save, or a `git checkout` touching many files, makes one sync.
"""

from __future__ import annotations

import enum
import queue
import time
from dataclasses import dataclass
from typing import Any

MAX_DEBOUNCE_WAIT = 2.0  # a file rewritten without pause is synced at least this often


class EventKind(enum.Enum):
    """What woke the loop."""

    FILE = "file"  # a manifest file changed (value: its path)
    RESCAN = "rescan"  # a folder changed: look at every file again
    ROOT = "root"  # a manifests root was removed or re-created (value: the root)
    LIVE = "live"  # the live registries changed (value: the keys, or None: not known)
    TRIGGER = "trigger"  # a sync was asked for (value: by what: webhook, api, ...)
    STOP = "stop"


MANIFEST_EVENTS = frozenset({EventKind.FILE, EventKind.RESCAN, EventKind.ROOT})


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    value: Any = None


class Inbox:
    """A queue of events, taken a burst at a time."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Event] = queue.Queue()

    def put(self, event: Event) -> None:
        self._queue.put(event)

    def burst(self, timeout: float, debounce: float) -> list[Event]:
        """The next event (waiting up to `timeout` s; none: []), what follows it while a
        burst of manifest events settles, and whatever else is already waiting."""
        try:
            first = self._queue.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return []
        batch = [first]
        if first.kind in MANIFEST_EVENTS:
            give_up = time.monotonic() + MAX_DEBOUNCE_WAIT
            while True:
                wait = min(debounce, give_up - time.monotonic())
                try:
                    item = self._queue.get(timeout=max(wait, 0.0))
                except queue.Empty:
                    break
                batch.append(item)
                if item.kind is EventKind.STOP:
                    break
        while True:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                return batch
