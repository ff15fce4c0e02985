"""The snapshot a `RegistryManager` serves, kept current with its store.

A reload reads only what changed since the snapshot (`Store.catch_up`); a write's own
commit is folded in without a read (`Store.after_commit`). Managers of one store in a
process share each read: the newest snapshot any of them published is adopted by the
others when it is current (`_LATEST`), so a runtime that creates many managers still reads
a change once. The store's follower (a file watch, or the database's notifications) calls
`store_may_have_changed`; what cannot be read keeps the last good snapshot.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from reconciler import store as store_
from reconciler.errors import StoreError
from reconciler.gcpause import gc_paused
from reconciler.library.snapshot import Entry, Snapshot
from reconciler.model.resource import ResourceKey
from reconciler.store import LiveState

log = logging.getLogger("reconciler.library")

_FILE_PROBLEMS = ("L001", "L002", "L006")  # a file that cannot be read as a whole
# Told of each new snapshot: the live state before, after, the keys that changed (None:
# not known, compare all) and the revision it is at.
Listener = Callable[[LiveState, LiveState, "list[ResourceKey] | None", int], None]

# The newest snapshot any cache in this process published, per store (`store_.identity`).
_LATEST: weakref.WeakValueDictionary[str, Snapshot] = weakref.WeakValueDictionary()


class SnapshotCache:
    """One manager's current snapshot of `store()` (the store is opened on first use, as
    upstream touches nothing before `load_all()`), its listeners and its following."""

    def __init__(self, store: Callable[[], store_.Store], *, watch: bool,
                 poll_interval: float) -> None:
        self._store = store
        self._watch = watch  # follow the store from the first load on
        self._poll_interval = poll_interval
        self.current = Snapshot.empty()
        self.loaded = False
        self.load_count = 0
        self.last_error: str | None = None
        self.lock = threading.RLock()  # one writer or reloader at a time in this process
        self._rejected: LiveState | None = None  # what was there when a reload was refused
        self._following: store_.Following | None = None
        self._listeners: list[Listener] = []

    def load(self) -> None:
        """`RegistryManager.load_all()`: a strict sync, then following (when watching),
        whether a read or a write of the manager comes first."""
        self.sync(strict=True)
        if self._watch and self._following is None:
            self._following = self._store().follow(self.store_may_have_changed, self,
                                                   self._poll_interval)

    def stop_following(self) -> None:
        if self._following is not None:
            self._following.cancel()
            self._following = None

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def store_may_have_changed(self, newest: int | None = None) -> None:
        """Called by the store's follower after a change, and every poll interval. A wake
        for a revision this snapshot already holds (most often this manager's own commit,
        served from its record) reads nothing: no round trip, and no wait for `lock`
        that the next write would then wait out."""
        if newest is not None:
            with self.lock:  # a write in progress publishes its commit first
                if self.loaded and newest <= self.current.revision:
                    return
        self.sync(strict=False)

    def sync(self, *, strict: bool, head: str | None = None) -> bool:
        """Bring the snapshot up to date with the store; True when it changed. `strict`
        raises StoreError (keeping the last good snapshot) when what is there cannot be
        read; otherwise that is logged and remembered for `stats()`. `head`: the store's
        fingerprint, when the caller has just read it (a write's turn)."""
        with self.lock, gc_paused():
            current = self.current
            store = self._store()
            def is_head(live: LiveState) -> bool:
                return live.fingerprint == head if head is not None else \
                    store.is_current(live)

            if self.loaded and is_head(current.live):
                return False
            if not strict and self._rejected is not None and store.is_current(self._rejected):
                return False  # still what a reload refused: no need to read it again
            shared = _LATEST.get(store_.identity(store))
            if shared is not None and shared is not current and (
                    not self.loaded or shared.revision >= current.revision) and \
                    is_head(shared.live):
                # Serve the snapshot another manager of this store read (it is immutable).
                self.current = shared
                self._notify(current.live, shared.live, None, shared.revision)
                self._served()
                return True
            changed: list[ResourceKey] | None = None
            if not self.loaded:
                revision = store.head()
                live = store.snapshot(lazy=True)  # entries decoded as they are read
            else:
                caught = store.catch_up(current.live, current.revision)
                live, changed, revision = caught.live, caught.changed, caught.revision
            problems = [d for d in live.diagnostics if d.code in _FILE_PROBLEMS
                        and d not in current.live.diagnostics]
            if problems and (self.loaded or strict):
                first = problems[0]
                self.last_error = f"{first.file}: {first.message}"
                self._rejected = live
                log.warning("registries not reloaded, still serving the last good ones: %s",
                            self.last_error)
                if strict:
                    raise StoreError(f"the registries could not be read ({self.last_error});"
                                     " the last good state is still served")
                return False
            self._publish(current, live, changed, revision)
            self._served()
            return True

    def committed(self, snapshot: Snapshot, entries: Mapping[ResourceKey, Entry | None],
                  revision: store_.Revision) -> None:
        """Serve what a commit made against `snapshot` wrote, without reading it back."""
        caught = self._store().after_commit(snapshot.live, entries, revision)
        self._publish(snapshot, caught.live, caught.changed, caught.revision)

    def _served(self) -> None:
        """A load changed what is served: the store is read, and no error stands."""
        self.loaded = True
        self.last_error = None
        self._rejected = None
        self.load_count += 1

    def _publish(self, previous: Snapshot, live: LiveState,
                 changed: list[ResourceKey] | None, revision: int) -> None:
        self.current = previous.successor(live, changed, revision)
        _LATEST[store_.identity(self._store())] = self.current
        self._notify(previous.live, live, changed, revision)

    def _notify(self, before: LiveState, after: LiveState, keys: list[ResourceKey] | None,
                revision: int) -> None:
        for listener in self._listeners:
            try:
                listener(before, after, keys, revision)
            except Exception:  # a listener's bug must not stop the snapshot being served
                log.exception("a registry listener failed")

    def stats(self) -> dict[str, Any]:
        """What `RegistryManager.stats()` reports of loading."""
        snapshot = self.current
        return {
            "loaded_at": snapshot.loaded_at.isoformat() if self.loaded else None,
            "load_count": self.load_count,
            "revision": snapshot.revision,
            "fingerprint": snapshot.live.fingerprint if self.loaded else None,
            "last_error": self.last_error,
        }
