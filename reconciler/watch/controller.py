"""The watch controller: keeps the live registries at the desired state, continuously.

One loop thread does everything that changes state, in order; the other threads (the
manifest watch, the registry follower, webhooks) only put events on its queue. On a
manifest change it waits for the edits to settle (`debounce`), re-reads just those files,
and syncs: the resources whose desired state changed are planned (`engine.plan_scope` scoped to
them: the same rules as any plan, over what the change touches) and committed through the library's
`RegistryManager.apply`, as one revision by source `watch`. Every `interval` seconds it
rescans everything and judges the whole desired state with `engine.plan_from`, the plan
`meshctl apply` makes, in case an event was missed.

Drift is a resource whose live entry differs from the desired one although the desired one
did not change since the two were last seen in sync: somebody changed it elsewhere. It is
reported per resource; with `self_heal` it is reverted. Without it, drift stays until the
manifests change that resource (unlike Argo CD, a sync applies only what git changed).
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import logging
import os
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from reconciler import engine
from reconciler import store as store_
from reconciler.errors import Diagnostic, MeshctlError, PlanRefused, StalePlan, StoreError
from reconciler.fsutil import quiet_watchdog_stop
from reconciler.library import RegistryManager
from reconciler.manifests import loader
from reconciler.model import kinds
from reconciler.model.resource import MeshState, ResourceKey
from reconciler.watch import DEFAULT_DEBOUNCE, DEFAULT_INTERVAL, drift
from reconciler.watch import status as status_file
from reconciler.watch.desired import DesiredWorkspace
from reconciler.watch.gitsource import GitError, GitSource

log = logging.getLogger("reconciler.watch")

SOURCE = "watch"
MAX_DEBOUNCE_WAIT = 2.0  # a file rewritten without pause is synced at least this often
SYNCED_NAME = "watch-synced"  # in the store's metadata area
MAX_REPORTED = 50  # errors and drifted resources listed in the status
SYNC_ATTEMPTS = 3
SAVE_DELAY = 1.0  # seconds of quiet before what is in sync is recorded for a restart
RETRY_DELAY = 5.0  # seconds before a sync that failed for an outside reason is tried again

DRIFTED, NOT_IN_GIT, MISSING_LIVE = drift.DRIFTED, drift.NOT_IN_GIT, drift.MISSING_LIVE
_ACTION = {DRIFTED: "update", NOT_IN_GIT: "delete", MISSING_LIVE: "create"}  # what a sync does


class EventKind(enum.Enum):
    """What woke the loop; every other thread only queues one of these."""

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


class SyncResult(enum.StrEnum):
    SYNCED = "synced"  # changes applied
    IN_SYNC = "in_sync"  # nothing to apply
    FAILED = "failed"  # the manifests, the registries or git could not be used
    REFUSED = "refused"  # the plan holds refusals or breaks a guard

    @property
    def ok(self) -> bool:
        return self in (SyncResult.SYNCED, SyncResult.IN_SYNC)


@dataclass(slots=True)
class SyncReport:
    """What one sync did: the line logged, and what `status.json` shows."""

    trigger: str
    result: SyncResult
    message: str
    revision: int | None = None
    summary: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    commit: str | None = None
    desired: str = ""
    duration_ms: float = 0.0
    time: str = field(default_factory=store_.now_text)

    def to_dict(self) -> dict[str, Any]:
        return {"time": self.time, "trigger": self.trigger, "result": self.result,
                "message": self.message, "revision": self.revision, "summary": self.summary,
                "errors": self.errors[:MAX_REPORTED], "error_count": len(self.errors),
                "commit": self.commit, "desired_fingerprint": self.desired,
                "duration_ms": round(self.duration_ms, 1)}


LEADERSHIP = "watch"  # what controller replicas elect a leader for
LEADER_RETRY = 2.0  # seconds between a standby replica's attempts to take the lead


class Controller:
    """Keeps the live registries of `store` (a `Store`, or where to open one) at the
    manifests under `paths` (a directory tree, or `git`'s checkout: then `paths` are
    relative to the repository). `run()` blocks until `stop()`;
    the CLI runs it on a thread of its own, the server beside uvicorn."""

    def __init__(self, paths: Sequence[str], store: store_.StoreLike, *,
                 manager: RegistryManager | None = None, git: GitSource | None = None,
                 self_heal: bool = False, interval: float = DEFAULT_INTERVAL,
                 debounce: float = DEFAULT_DEBOUNCE, prune: bool = True,
                 max_deletes: int = engine.DEFAULT_MAX_DELETES,
                 max_bytes: int = loader.DEFAULT_MAX_BYTES, deny_breaking: bool = False) -> None:
        self.store = manager.store if manager is not None else store_.open_store(store)
        self.registries = self.store.location  # for messages and plan metadata
        self.git = git
        self.paths = [str(git.workdir / p) for p in (paths or ["."])] if git else list(paths)
        self.self_heal, self.interval, self.debounce = self_heal, interval, debounce
        self.prune, self.max_deletes = prune, max_deletes
        self.deny_breaking = deny_breaking
        self._owns_manager = manager is None
        self.manager = manager or RegistryManager(store=self.store, source=SOURCE)
        self.workspace = DesiredWorkspace(self.paths, max_bytes=max_bytes)
        self._queue: queue.Queue[Event] = queue.Queue()
        self._lease: store_.Lease | None = None
        self._leading = False  # set once this replica took the lead and started
        self._stop = threading.Event()
        self.ready = threading.Event()  # set once the first sync is done
        self._out: dict[ResourceKey, str] = {}  # out of sync: why
        self._synced: dict[ResourceKey, bytes] | None = None  # desired digest when in sync
        self._commit: str | None = None  # the git commit checked out
        self._subject: str | None = None  # its first line, for the status
        self._last: SyncReport | None = None
        self._last_good: dict[str, Any] | None = None
        self._started = store_.now_text()
        self._observer: Any = None
        self._handler: Any = None  # the manifest watch's event handler
        self._root_watches: dict[str, Any] = {}  # each root folder's watch, by path
        self._revision = 0
        self._last_full = 0.0
        self._retry_at = float("inf")
        self._syncs = 0  # how many syncs were reported: tells a reader a new one happened
        self._synced_dirty = False
        self._reported_drift: frozenset[ResourceKey] = frozenset()

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> None:
        """Lead (replicas on one database take turns: the others stand by), load, sync
        once, then follow every change until `stop()`. A leader that loses its lease stops
        syncing at once and stands by again; its late commits are refused by their epoch."""
        try:
            while True:  # once at least: `watch --once` stops before it runs
                self._lease = self._await_leadership()
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
                log.warning("lost the lead on %s; standing by", self.registries,
                            extra={"fields": {"event": "standby"}})
        finally:
            if self._lease is not None:
                self._lease.release()
            self._finish()

    def _await_leadership(self) -> store_.Lease | None:
        """The lease, once no other replica holds it (None: stopped first)."""
        announced = False
        while True:
            try:
                lease = self.store.lead(LEADERSHIP, on_lost=lambda: self._queue.put(
                    Event(EventKind.TRIGGER, "leadership lost")))
            except MeshctlError as error:
                log.warning("cannot reach the store to take the lead: %s", error)
                lease = None
            if lease is not None:
                if announced or lease.epoch is not None:
                    log.info("leading on %s (epoch %s)", self.registries, lease.epoch,
                             extra={"fields": {"event": "leader", "epoch": lease.epoch}})
                return lease
            if self._stop.is_set():
                return None
            if not announced:
                log.info("another controller leads on %s; standing by", self.registries,
                         extra={"fields": {"event": "standby"}})
                announced = True
            self._stop.wait(LEADER_RETRY)

    def stop(self) -> None:
        """Ask the loop to end once the sync in flight (if any) is committed or refused.
        Safe from a signal handler: it only sets a flag and wakes the loop."""
        self._stop.set()
        self._queue.put(Event(EventKind.STOP))

    def trigger(self, reason: str = "webhook") -> None:
        """Sync now (a git source fetches first); a burst of triggers makes one sync."""
        self._queue.put(Event(EventKind.TRIGGER, reason))

    def _start(self) -> None:
        self._leading = True
        self._synced = self._load_synced()
        if self.git is not None:
            self._first_checkout(self.git)
        self.workspace.load()
        self.manager.load_all()
        self.manager.add_listener(self._on_live_change)
        if self.git is None:
            self._watch_manifests()
        source = (f"git {self.git.repo} branch {self.git.branch}" if self.git
                  else ", ".join(self.paths))
        log.info("watching %s (%d resources in %d files) for %s%s", source,
                 len(self.workspace.state), len(self.workspace.files), self.registries,
                 "; self-heal on" if self.self_heal else "",
                 extra={"fields": {"event": "start", "source": self._source_info()}})
        self._full_sync("start")
        self.ready.set()

    def _finish(self) -> None:
        if not self._leading:  # a replica that never led leaves the leader's state alone
            return
        if self._synced_dirty:
            self._save_synced()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
        if self._owns_manager:
            self.manager.close()
        self._write_status(stopped=True)
        self.ready.set()

    def _step(self) -> None:
        """Wait for events (or the next full resync), gather a burst of them, act once."""
        due = self._next_resync - time.monotonic()
        if self._synced_dirty:  # record what is in sync once things are quiet
            due = min(due, SAVE_DELAY)
        try:
            first = self._queue.get(timeout=max(due, 0.0))
        except queue.Empty:
            if self._synced_dirty:
                self._save_synced()
            if time.monotonic() >= self._next_resync:
                self._full_sync("resync")
            return
        batch = [first]
        if first.kind in MANIFEST_EVENTS:  # let a burst of writes settle
            give_up = time.monotonic() + MAX_DEBOUNCE_WAIT
            while True:
                wait = min(self.debounce, give_up - time.monotonic())
                try:
                    item = self._queue.get(timeout=max(wait, 0.0))
                except queue.Empty:
                    break
                batch.append(item)
                if item.kind is EventKind.STOP:
                    break
        while True:  # and whatever else is already waiting
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        try:
            self._handle(batch)
        except Exception as error:  # a bug must not end the loop: report it, go on
            log.exception("the watch loop failed to handle %d event(s)", len(batch))
            self._report(SyncReport("manifests", SyncResult.FAILED, f"sync failed: internal error: "
                                    f"{type(error).__name__}: {error}",
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
                self._rewatch(value)
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
        if live_all:
            self._judge_all()
        else:
            self._judge(touched | live_keys)
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

    # -- events from other threads ------------------------------------------------------

    def _on_live_change(self, before: Any, after: Any, keys: list[ResourceKey] | None,
                        revision: int) -> None:
        self._queue.put(Event(EventKind.LIVE, None if keys is None else list(keys)))

    def _watch_manifests(self) -> None:
        try:
            from watchdog.events import FileSystemEvent, FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:  # the full resync still finds every change, later
            log.warning("watchdog is not installed: changes are found by the resync only")
            return
        events = self._queue

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type in ("opened", "closed_no_write"):
                    return
                if event.is_directory:
                    if event.event_type != "modified":
                        events.put(Event(EventKind.RESCAN))
                    return
                for path in (event.src_path, getattr(event, "dest_path", "")):
                    text = os.fsdecode(path)
                    if text.endswith(loader.MANIFEST_SUFFIXES):
                        events.put(Event(EventKind.FILE, text))

        class _RootHandler(FileSystemEventHandler):
            """A root folder created, removed or moved in its parent (`rm -rf` and a
            fresh copy, a branch switch): its own watch is gone, so watch it anew."""

            def __init__(self, root: str) -> None:
                self.root = os.path.abspath(root)

            def on_any_event(self, event: FileSystemEvent) -> None:
                paths = (event.src_path, getattr(event, "dest_path", ""))
                if any(os.path.abspath(os.fsdecode(p)) == self.root for p in paths if p):
                    events.put(Event(EventKind.ROOT, self.root))

        quiet_watchdog_stop()
        observer = Observer()
        observer.daemon = True
        self._handler = _Handler()
        for path in self.paths:
            if os.path.isdir(path):
                self._root_watches[os.path.abspath(path)] = observer.schedule(
                    self._handler, path, recursive=True)
                parent = os.path.dirname(os.path.abspath(path))
                observer.schedule(_RootHandler(path), parent, recursive=False)
            else:
                observer.schedule(self._handler, os.path.dirname(path) or ".",
                                  recursive=False)
        observer.start()
        self._observer = observer

    def _rewatch(self, root: str) -> None:
        """Watch `root` again (it was re-created); a root that is gone is left to the
        rescan, which then finds no files in it."""
        old = self._root_watches.pop(root, None)
        if old is not None:
            with contextlib.suppress(KeyError, OSError):
                self._observer.unschedule(old)
        if os.path.isdir(root):
            try:
                self._root_watches[root] = self._observer.schedule(self._handler, root,
                                                                   recursive=True)
            except OSError as error:
                log.warning("cannot watch %s again: %s", root, error)

    # -- judging: which resources are out of sync, and why -------------------------------

    def _judge(self, keys: set[ResourceKey]) -> None:
        live = self.manager.live().state
        desired = self.workspace.state
        for key in keys:
            self._judge_key(key, desired, live)

    def _judge_all(self) -> None:
        live = self.manager.live().state
        desired = self.workspace.state
        self._out = {}
        for key in {r.key for r in desired} | {r.key for r in live}:
            self._judge_key(key, desired, live)

    def _judge_key(self, key: ResourceKey, desired: MeshState, live: MeshState) -> None:
        why = drift.out_of_sync(key, desired, live)
        if why is not None:
            self._out[key] = why
            return
        self._out.pop(key, None)
        if self._synced is not None:  # seen in sync: remember what was wanted then
            digest = self.workspace.digest(key)
            if digest is None:
                self._synced.pop(key, None)
            else:
                self._synced[key] = digest

    def _is_drift(self, key: ResourceKey) -> bool:
        """Out of sync although the desired state is what it was when last in sync."""
        if self._synced is None:
            return False  # never synced here: everything out of sync is to apply
        return self._synced.get(key) == self.workspace.digest(key)

    def drifted(self) -> dict[ResourceKey, str]:
        return {key: why for key, why in self._out.items() if self._is_drift(key)}

    def pending(self) -> dict[ResourceKey, str]:
        """Out of sync because the manifests changed: what the next sync applies."""
        return {key: why for key, why in self._out.items() if not self._is_drift(key)
                and (self.prune or why != NOT_IN_GIT)}

    # -- syncing --------------------------------------------------------------------------

    def _full_sync(self, trigger: str) -> None:
        """Rescan every file and the registries, judge every resource, and check the whole
        desired state with the full plan's rules; then sync what is pending."""
        self._last_full = time.monotonic()
        self._retry_at = float("inf")
        if self.git is not None and trigger != "start":
            moved = self._fetch_and_checkout()
            if moved is not None and trigger == "resync":
                trigger = "git"  # a new commit, found by the periodic fetch
        self.workspace.update(None)  # by stat: what changed, appeared or went away
        try:
            self.manager.load_all()
        except MeshctlError as error:
            self._report(SyncReport(trigger, SyncResult.FAILED, f"sync failed: {error}",
                                    errors=[{"message": str(error)}]))
            self._retry_soon()
            return
        self._judge_all()
        self._sync(trigger, full=True)

    def _sync(self, trigger: str, *, full: bool = False) -> None:
        started = time.perf_counter()
        for _ in range(SYNC_ATTEMPTS):
            try:
                report = self._attempt(trigger, full=full)
            except StalePlan:  # another writer got there first: read it, judge again
                self.manager.load_all()
                self._judge_all()
                continue
            except MeshctlError as error:  # the store, not the manifests: try again soon
                report = SyncReport(trigger, SyncResult.FAILED, f"sync failed: {error}",
                                    errors=[{"message": str(error)}])
                self._retry_soon()
            break
        else:  # other writers kept moving the registries: they may be done now
            report = SyncReport(trigger, SyncResult.FAILED, "sync failed: the registries changed "
                                "under every attempt; trying again shortly")
            self._retry_soon()
        report.duration_ms = (time.perf_counter() - started) * 1000
        report.commit, report.desired = self._commit, self.workspace.fingerprint
        self._report(report)

    def _attempt(self, trigger: str, *, full: bool) -> SyncReport:
        live, referrers, revision = self.manager.view()
        errors = self.workspace.errors
        warnings: list[Diagnostic] = []
        if full and not errors:
            checked = engine.plan_from(self.workspace.as_desired(), live,
                                       location=self.store.location, paths=self.paths,
                                       prune=self.prune)
            errors = checked.errors
            warnings = [d for d in checked.diagnostics if not d.is_error]
        if errors:
            return _failed(trigger, errors)
        pending = self.pending()
        keys = set(pending) | (set(self.drifted()) if self.self_heal else set())
        if not keys:
            self._revision = revision
            return SyncReport(trigger, SyncResult.IN_SYNC, self._in_sync_message(revision),
                              revision=revision)
        state = self._after_state(keys, live.state)
        meta = {"registries": str(self.registries), "manifests": self.paths,
                "git_commit": self._commit}
        planned = engine.plan_scope(state, live, keys=keys, referrers=referrers,
                                    prune=self.prune, meta=meta,
                                    deny_breaking=self.deny_breaking)
        problems = planned.diagnostics + warnings
        for warning in (d for d in problems if d.code.startswith("B")):
            log.warning("%s: %s", warning.location or warning.resource, warning.message,
                        extra={"fields": {"event": "breaking", **warning.to_dict()}})
        plan = planned.plan
        if plan is None or any(d.is_error for d in problems):
            return _failed(trigger, [d for d in problems if d.is_error])
        if plan.refusals:
            reasons = [change.refused or "" for change in plan.refusals]
            return SyncReport(trigger, SyncResult.REFUSED, "sync refused: " + "; ".join(reasons),
                              errors=[{"message": reason} for reason in reasons])
        note = f"{trigger}: {self._commit[:12]}" if self._commit else trigger
        try:
            done = self.manager.apply(plan, source=SOURCE, note=note,
                                      max_deletes=self.max_deletes,
                                      epoch=self._lease.epoch if self._lease else None)
        except PlanRefused as error:
            return SyncReport(trigger, SyncResult.REFUSED, f"sync refused: {error}",
                              errors=[{"message": str(error)}])
        self._judge(keys)
        summary = plan.summary
        counts = {"create": summary.create, "update": summary.update,
                  "delete": summary.delete}
        if done is None:
            self._revision = revision
            return SyncReport(trigger, SyncResult.IN_SYNC, self._in_sync_message(revision),
                              revision=revision)
        self._revision = done.number
        healed = sorted(str(k) for k in keys if k not in pending)
        words = [f"{n} {verb}" for verb, n in (("created", summary.create),
                                                ("updated", summary.update),
                                                ("deleted", summary.delete)) if n]
        message = f"synced rev {done.number}: {', '.join(words) or 'no changes'}"
        if healed:
            message += f" (drift reverted: {', '.join(healed[:10])})"
        return SyncReport(trigger, SyncResult.SYNCED, message, revision=done.number, summary=counts)

    def _in_sync_message(self, revision: int) -> str:
        """`in sync at rev 12`, or what is left alone: drift, without self-heal."""
        drifted = len(self.drifted())
        if not drifted:
            return f"in sync at rev {revision}"
        return (f"nothing to apply at rev {revision}; {drifted} resource(s) drifted, left "
                "as they are (meshctl status lists them; --self-heal reverts drift)")

    def _after_state(self, keys: set[ResourceKey], live: MeshState) -> MeshState:
        """What the registries hold after syncing `keys`: the desired state, except that a
        resource out of sync and not synced now keeps its live entry (or absence)."""
        kept = [key for key in self._out if key not in keys]
        if not kept:
            return self.workspace.state
        state = self.workspace.state.copy()
        for key in kept:
            resource = live.get(key)
            if resource is None:
                state.discard(key)
            elif self.prune or self._out[key] != NOT_IN_GIT:
                state.add(resource)
        return state

    def _on_drift(self) -> None:
        """The registries changed: revert drift when self-healing, else report it."""
        if self.self_heal and self.drifted():
            self._sync("self-heal")
            return
        self._write_status()
        drifted = self.drifted()
        if frozenset(drifted) != self._reported_drift:
            self._reported_drift = frozenset(drifted)
            if drifted:
                log.info("drift: %s", _describe_out(drifted), extra={"fields": {
                    "event": "drift", "drifted": _listed(drifted)}})
            else:
                log.info("drift gone: live matches the manifests again",
                         extra={"fields": {"event": "drift", "drifted": []}})

    # -- git --------------------------------------------------------------------------------

    def _first_checkout(self, git: GitSource) -> None:
        """Fetch and check out the branch before anything is read. When the fetch fails,
        a checkout kept from an earlier run is used (and fetched again later); without one
        there is no desired state at all, and syncing would delete everything: raise."""
        try:
            head = git.fetch()
        except GitError as error:
            kept = git.current()
            if kept is None:
                raise GitError(f"{error}; nothing was synced (no earlier checkout to use)") \
                    from error
            log.warning("git fetch failed, using the checkout of %s: %s", kept[:12], error)
            git.checked_out = self._commit = kept
            return
        git.checkout(head)
        self._commit = head
        self._subject = self._subject_of(head)

    def _fetch_and_checkout(self) -> list[str] | None:
        """Fetch the branch; check its head out when it moved. The files changed (relative
        names made absolute under the work tree), or None when the head did not move."""
        assert self.git is not None
        try:
            head = self.git.fetch()
            if head == self.git.checked_out:
                return None
            changed = self.git.checkout(head)
        except GitError as error:
            log.warning("git fetch failed: %s", error, extra={"fields": {"event": "git"}})
            return None
        self._commit = head
        self._subject = self._subject_of(head)
        return [str(self.git.workdir / name) for name in changed]

    def _subject_of(self, sha: str) -> str | None:
        assert self.git is not None
        try:
            return self.git.describe(sha).subject
        except GitError:
            return None

    # -- reporting --------------------------------------------------------------------------

    def _report(self, report: SyncReport) -> None:
        self._last = report
        self._syncs += 1
        if report.result.ok:
            self._last_good = {"time": report.time, "revision": report.revision,
                               "commit": report.commit,
                               "desired_fingerprint": report.desired}
            if self._synced is None:  # the first good sync: from now on drift can be told
                self._synced = {}
                self._judge_all()
            self._synced_dirty = True
        level = logging.WARNING if not report.result.ok else (
            logging.DEBUG if report.result is SyncResult.IN_SYNC and report.trigger not in
            ("start", "git", "webhook", "api") else logging.INFO)
        log.log(level, "%s", report.message, extra={"fields": {
            "event": "sync", **report.to_dict()}})
        self._write_status()

    @property
    def last_report(self) -> SyncReport | None:
        return self._last

    def status(self) -> dict[str, Any]:
        """What `status.json` holds: the controller, the last sync, the last good one, and
        every resource out of sync."""
        drifted = self.drifted()
        pending = self.pending()
        return {
            "controller": {
                "pid": os.getpid(), "host": os.uname().nodename, "started": self._started,
                "source": self._source_info(), "self_heal": self.self_heal,
                "interval": self.interval, "debounce_ms": round(self.debounce * 1000),
                "prune": self.prune, "stopped": self._stop.is_set(),
            },
            "revision": self._revision,
            "sync_count": self._syncs,
            "last_sync": self._last.to_dict() if self._last else None,
            "last_good_sync": self._last_good,
            "drifted": _listed(drifted),
            "drifted_count": len(drifted),
            "pending": _listed({key: _ACTION[why] for key, why in pending.items()}),
            "pending_count": len(pending),
            "updated": store_.now_text(),
        }

    def _source_info(self) -> dict[str, Any]:
        if self.git is not None:
            return {"type": "git", "repo": self.git.repo, "branch": self.git.branch,
                    "commit": self._commit, "commit_subject": self._subject,
                    "paths": self.paths}
        return {"type": "directory", "paths": [os.path.abspath(p) for p in self.paths]}

    def _write_status(self, *, stopped: bool = False) -> None:
        current = self.status()
        if stopped:
            current["controller"]["stopped"] = True
        try:
            status_file.write(self.manager.store, current)
        except StoreError as error:
            log.warning("cannot write the watch status: %s", error)

    # -- what was last seen in sync survives a restart ---------------------------------

    def _source_id(self) -> str:
        info = self._source_info()
        info.pop("commit", None)
        info.pop("commit_subject", None)
        return hashlib.sha256(orjson.dumps(info, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]

    def _load_synced(self) -> dict[ResourceKey, bytes] | None:
        try:
            data = self.manager.store.get_meta(SYNCED_NAME)
            if data is None or data.get("source") != self._source_id():
                return None
            return {ResourceKey(kinds.Kind(kind), name): bytes.fromhex(digest)
                    for kind, name, digest in data["resources"]}
        except (StoreError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def _save_synced(self) -> None:
        self._synced_dirty = False
        if self._synced is None:
            return
        body = {"source": self._source_id(), "resources": [
            [key.kind.value, key.name, digest.hex()] for key, digest in self._synced.items()]}
        try:
            self.manager.store.put_meta(SYNCED_NAME, body)
        except StoreError as error:
            log.warning("cannot record what is in sync: %s", error)


def _failed(trigger: str, errors: list[Diagnostic]) -> SyncReport:
    first = errors[0]
    where = f"{first.location}: " if first.location else ""
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return SyncReport(trigger, SyncResult.FAILED, f"sync failed: {where}{first.message}{more}",
                      errors=[d.to_dict() for d in errors])


def _listed(out: dict[ResourceKey, str]) -> list[dict[str, str]]:
    keys = sorted(out)[:MAX_REPORTED]
    return [{"kind": key.kind.value, "name": key.name, "status": out[key]} for key in keys]


def _describe_out(out: dict[ResourceKey, str]) -> str:
    shown = [f"{kinds.info(k.kind).label} {k.name} {why}" for k, why in sorted(out.items())]
    more = f" and {len(shown) - 10} more" if len(shown) > 10 else ""
    return ", ".join(shown[:10]) + more
