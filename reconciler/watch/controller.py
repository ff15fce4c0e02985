"""The watch controller: keeps the live registries at the desired state, continuously.

One loop thread does everything that changes state, in order; the other threads (the
manifest watch, the store's follower, webhooks) only put events in its inbox. On a
manifest change it waits for the edits to settle, re-reads just those files, and syncs
what changed (`syncer`). Every `interval` seconds it rescans everything and judges the
whole desired state as `meshctl apply` would, in case an event was missed.

Drift is a resource whose live entry differs from the desired one although the desired one
did not change since the two were last seen in sync (`sync_state`): somebody changed it
elsewhere. It is reported per resource; with `self_heal` it is reverted. Without it, drift
stays until the manifests change that resource (unlike Argo CD, a sync applies only what
git changed).

This module is the loop only; its parts: `events` (the inbox), `leadership` (which replica
syncs), `manifest_watch`, `source` (folders or a git branch), `sync_state`, `syncer` and
`reporting` (log lines and the status document).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from reconciler import engine
from reconciler import store as store_
from reconciler.errors import MeshctlError
from reconciler.library import RegistryManager
from reconciler.manifests import loader
from reconciler.model.resource import ResourceKey
from reconciler.plan.render import common
from reconciler.watch import DEFAULT_DEBOUNCE, DEFAULT_INTERVAL, leadership
from reconciler.watch.desired import DesiredWorkspace
from reconciler.watch.events import Event, EventKind, Inbox
from reconciler.watch.gitsource import GitSource
from reconciler.watch.manifest_watch import ManifestWatch
from reconciler.watch.reporting import Reporter, Settings, SyncReport, SyncResult
from reconciler.watch.source import DesiredSource
from reconciler.watch.sync_state import SyncState
from reconciler.watch.syncer import SOURCE, Syncer

__all__ = ["Controller", "Event", "EventKind", "SyncReport", "SyncResult"]

log = logging.getLogger("reconciler.watch")

SAVE_DELAY = 1.0  # seconds of quiet before what is in sync is recorded for a restart
RETRY_DELAY = 5.0  # seconds before a sync that failed for an outside reason is tried again


class Controller:
    """Keeps the live registries of `store` (a `Store`, or where to open one) at the
    manifests under `paths` (a directory tree, or `git`'s checkout: then `paths` are
    relative to the repository). `run()` blocks until `stop()`; the CLI runs it on a
    thread of its own, the server beside uvicorn. `watch_files=False` leaves changes to
    the periodic resync (and to tests that hand events in themselves)."""

    def __init__(self, paths: Sequence[str], store: store_.Store | store_.Location, *,
                 manager: RegistryManager | None = None, git: GitSource | None = None,
                 self_heal: bool = False, interval: float = DEFAULT_INTERVAL,
                 debounce: float = DEFAULT_DEBOUNCE, prune: bool = True,
                 max_deletes: int = engine.DEFAULT_MAX_DELETES,
                 max_bytes: int = loader.DEFAULT_MAX_BYTES, deny_breaking: bool = False,
                 deny_access_widening: bool = False, watch_files: bool = True) -> None:
        self.store = manager.store if manager is not None else store_.open_store(store)
        self._owns_manager = manager is None
        self.manager = manager or RegistryManager(store=self.store, source=SOURCE)
        self.source = DesiredSource(paths, git)
        self.git, self.paths = git, self.source.paths
        self.self_heal, self.interval, self.debounce = self_heal, interval, debounce
        self.prune = prune
        self.workspace = DesiredWorkspace(self.paths, max_bytes=max_bytes)
        self.state = SyncState(self.workspace, prune=prune)
        self.syncer = Syncer(self.manager, self.workspace, self.state, self.source,
                             self_heal=self_heal, prune=prune, max_deletes=max_deletes,
                             deny_breaking=deny_breaking,
                             deny_access_widening=deny_access_widening)
        self.reporter = Reporter(self.store, self.source, self.state,
                                 Settings(self_heal, interval, debounce, prune))
        self._inbox = Inbox()
        self._manifest_watch = ManifestWatch(self.paths, self._inbox) if watch_files else None
        self._lease: store_.Lease | None = None
        self._leading = False  # set once this replica took the lead and started
        self._stop = threading.Event()
        self.ready = threading.Event()  # set once the first sync is done
        self._last_full = 0.0
        self._retry_at = float("inf")

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> None:
        """Lead (replicas on one database take turns: the others stand by), load, sync
        once, then follow every change until `stop()`. A leader that loses its lease stops
        syncing at once and stands by again; its late commits are refused by their epoch."""
        try:
            while True:  # once at least: `watch --once` stops before it runs
                self._lease = leadership.await_lease(
                    self.store, self._stop,
                    on_lost=lambda: self._inbox.put(Event(EventKind.TRIGGER, "leadership lost")))
                if self._lease is None:
                    return
                if not self._leading:
                    self._start()
                else:
                    self._full_sync("leader")
                while not self._stop.is_set() and not self._lease.lost.is_set():
                    self._step()
                if self._stop.is_set():
                    return
                log.warning("lost the lead on %s; standing by", self.store.location,
                            extra={"fields": {"event": "standby"}})
        finally:
            if self._lease is not None:
                self._lease.release()
            self._finish()

    def stop(self) -> None:
        """Ask the loop to end once the sync in flight (if any) is committed or refused.
        Safe from a signal handler: it only sets a flag and wakes the loop."""
        self._stop.set()
        self.reporter.stopped = True
        self._inbox.put(Event(EventKind.STOP))

    def trigger(self, reason: str = "webhook") -> None:
        """Sync now (a git source fetches first); a burst of triggers makes one sync."""
        self._inbox.put(Event(EventKind.TRIGGER, reason))

    def _start(self) -> None:
        self._leading = True
        self.state.load(self.store, self.source.id())
        self.source.first_checkout()
        self.workspace.load()
        self.manager.load_all()
        self.manager.add_listener(self._on_live_change)
        if self._manifest_watch is not None and self.git is None:
            self._manifest_watch.start()
        log.info("watching %s (%d resources in %d files) for %s%s", self.source.describe(),
                 len(self.workspace.state), len(self.workspace.files), self.store.location,
                 "; self-heal on" if self.self_heal else "",
                 extra={"fields": {"event": "start", "source": self.source.info()}})
        self._full_sync("start")
        self.ready.set()

    def _finish(self) -> None:
        if not self._leading:  # a replica that never led leaves the leader's state alone
            return
        if self.state.dirty:
            self.state.save(self.store, self.source.id())
        if self._manifest_watch is not None:
            self._manifest_watch.stop()
        if self._owns_manager:
            self.manager.close()
        self.reporter.stopped = True
        self.reporter.write()
        self.ready.set()

    def _step(self) -> None:
        """Wait for events (or the next full resync), take a burst of them, act once."""
        due = self._next_resync - time.monotonic()
        if self.state.dirty:  # record what is in sync once things are quiet
            due = min(due, SAVE_DELAY)
        batch = self._inbox.burst(due, self.debounce)
        if not batch:
            if self.state.dirty:
                self.state.save(self.store, self.source.id())
            if time.monotonic() >= self._next_resync:
                self._full_sync("resync")
            return
        try:
            self._handle(batch)
        except Exception as error:  # a bug must not end the loop: report it, go on
            log.exception("the watch loop failed to handle %s",
                          common.count(len(batch), "event"))
            self._report(SyncReport(
                "manifests", SyncResult.FAILED,
                f"sync failed: internal error: {type(error).__name__}: {error}",
                errors=[{"message": str(error)}]))
            self._retry_soon()

    def _handle(self, batch: list[Event]) -> None:
        files: set[str] = set()
        rescan = fetch = False
        live_keys: set[ResourceKey] = set()
        live_all = False
        trigger = ""
        for event in batch:
            kind, value = event.kind, event.value
            if kind is EventKind.FILE:
                files.add(value)
            elif kind is EventKind.RESCAN:
                rescan = True
            elif kind is EventKind.ROOT:
                if self._manifest_watch is not None:
                    self._manifest_watch.rewatch(value)
                rescan = True
            elif kind is EventKind.LIVE:
                if value is None:
                    live_all = True
                else:
                    live_keys.update(value)
            elif kind is EventKind.TRIGGER:
                fetch, trigger = True, value
        if self._stop.is_set() and not (files or rescan or fetch):
            return
        if fetch:  # asked for (a webhook, the API): fetch, look at everything, sync
            self._full_sync(trigger)
            return
        desired_changed = False
        touched: set[ResourceKey] = set()
        for wanted in ([None] if rescan else []) + ([files] if files else []):
            read, keys = self.workspace.update(wanted)
            touched |= keys
            desired_changed = desired_changed or bool(read)
        live = self.manager.live().state
        if live_all:
            self.state.judge_all(live)
        else:
            self.state.judge(touched | live_keys, live)
        if desired_changed:
            self._sync("manifests")
        elif live_keys or live_all:
            self._on_drift()

    @property
    def _next_resync(self) -> float:
        return min(self._last_full + self.interval, self._retry_at)

    def _retry_soon(self) -> None:
        """After a sync that failed for a reason outside the manifests (a lock held too
        long, an unreadable registry, git unreachable), try a full resync again soon."""
        self._retry_at = time.monotonic() + min(RETRY_DELAY, self.interval)

    def _on_live_change(self, before: Any, after: Any, keys: list[ResourceKey] | None,
                        revision: int) -> None:
        """The library's listener (the store's follower thread): only queue it."""
        self._inbox.put(Event(EventKind.LIVE, None if keys is None else list(keys)))

    # -- syncing --------------------------------------------------------------------------

    def _full_sync(self, trigger: str) -> None:
        """Rescan every file and the registries, judge every resource, and check the whole
        desired state with the full plan's rules; then sync what is pending."""
        self._last_full = time.monotonic()
        self._retry_at = float("inf")
        if trigger != "start" and self.source.fetch() and trigger == "resync":
            trigger = "git"  # a new commit, found by the periodic fetch
        self.workspace.update(None)  # by stat: what changed, appeared or went away
        try:
            self.manager.load_all()
        except MeshctlError as error:
            self._report(SyncReport.broken(trigger, error))
            self._retry_soon()
            return
        self.state.judge_all(self.manager.live().state)
        self._sync(trigger, full=True)

    def _sync(self, trigger: str, *, full: bool = False) -> None:
        report = self.syncer.sync(trigger, full=full,
                                  epoch=self._lease.epoch if self._lease else None)
        if self.syncer.retry_soon:
            self._retry_soon()
        self._report(report)

    def _on_drift(self) -> None:
        """The registries changed: revert drift when self-healing, else report it."""
        if self.self_heal and self.state.drifted():
            self._sync("self-heal")
            return
        self.reporter.drift()

    def _report(self, report: SyncReport) -> None:
        if report.result.ok:
            self.state.synced_once(self.manager.live().state)
        self.reporter.sync(report)

    # -- what the CLI, the API and the panel read ---------------------------------------

    @property
    def last_report(self) -> SyncReport | None:
        return self.reporter.last

    def status(self) -> dict[str, Any]:
        return self.reporter.status()

    def drifted(self) -> dict[ResourceKey, str]:
        return self.state.drifted()

    def pending(self) -> dict[ResourceKey, str]:
        return self.state.pending()
