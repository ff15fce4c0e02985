"""The store interface: what the engine, the library, the API and the watch controller may
ask of wherever the live registries are kept. Only `store/` knows how a store keeps them.

    snapshot(lazy=, unread=)    the live state, with an opaque revision token (`fingerprint`);
                                `lazy`: entries may be decoded when first asked for;
                                `unread`: and read then (for a short-lived reader: an
                                entry whose file changed since raises StoreError)
    commit(changes, expected=)  one atomic revision, refused (StalePlan, naming the revisions
                                that moved the store on) unless the store is at `expected`
    audit(record), audit_log()  every attempted change, refused and failed ones included
    revisions(), revision(n)    the history: what each revision changed, before and after
    revisions_after(n, wait=)   the change feed: every revision after `n`, oldest first, none
                                missed or repeated; waits up to `wait` s for the next one
    get_meta(name), put_meta()  a small area for the watch controller's status and state

and, for long-lived readers (`RegistryManager`) that keep a snapshot and follow changes:

    head()                      the number of the newest revision (0: none yet)
    is_current(live)            does `live` still show the store as it is? (cheap)
    catch_up(live, revision)    `live` brought up to date: the new snapshot, the keys that
                                changed (None: not known) and the revision it is at
    after_commit(live, entries, revision)   the snapshot after this process's own commit
    follow(method, owner, poll_interval)    call `method` when the store may have changed,
                                for as long as `owner` lives (held weakly)
    write_turn()                writers in many processes take turns (a database store)
    lead(name)                  leadership among controller replicas, with an epoch that
                                fences a deposed leader's commits

Three stores implement it, and one contract test suite (`tests/store/test_contract.py`)
holds each to it: the file store (`filestore.FileStore`, AgentMesh's JSON files, the
default), the PostgreSQL store (`pgstore.PostgresStore`, a database many hosts share) and a
memory store (`memorystore.MemoryStore`, for tests). A store that holds connections
(PostgreSQL) also has `close()`: it stops its followings before its connections, so that
no follower wakes to a closed store; it runs by itself when the store is freed or the
process exits.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from reconciler.model.live import LiveState
from reconciler.model.resource import ResourceKey
from reconciler.store.history import CommitInfo

log = logging.getLogger(__name__)

ChangeSet = Mapping[ResourceKey, dict[str, Any] | None]  # None: delete
StaleDetail = Callable[[LiveState, list[dict[str, Any]]], str]


@dataclass(frozen=True, slots=True)
class CaughtUp:
    """A snapshot brought up to date: what changed (None: not known, compare all) and the
    revision the store is at."""

    live: LiveState
    changed: list[ResourceKey] | None
    revision: int


@dataclass(frozen=True, slots=True)
class Revision:
    number: int
    fingerprint_before: str
    fingerprint_after: str
    files: tuple[str, ...]
    record: dict[str, Any]
    reads: dict[str, Any] = field(default_factory=dict)  # the store's own: what it wrote
    written: dict[str, Any] = field(default_factory=dict)  # the store's own: new contents


class Following(Protocol):
    def cancel(self) -> None: ...


class FeedFollowing:
    """A thread that waits for the store's next revision and wakes one long-lived reader,
    held weakly: it ends once the reader's owner is gone, or it is cancelled, or the store
    is `closed` (an event the store sets when its owner closes it). `wait(seen, timeout)`
    blocks up to `timeout` s for a revision after `seen` and returns the newest one it
    knows of. A wake that fails (the database away, a bug) is logged and the following
    goes on; one that fails because the following ended meanwhile (the store closed under
    it) is not an error, and ends it quietly. Shared by the memory and the PostgreSQL
    stores (the file store follows its files instead)."""

    def __init__(self, wait: Callable[[int, float], int], seen: int,
                 method: weakref.WeakMethod[Any], owner: object, poll_interval: float,
                 name: str, *, closed: threading.Event | None = None) -> None:
        self._stop = threading.Event()
        self._closed = closed if closed is not None else threading.Event()
        weakref.finalize(owner, self._stop.set)
        self._thread = threading.Thread(target=self._run,
                                        args=(wait, seen, method, poll_interval, name),
                                        name=name, daemon=True)
        self._thread.start()

    def _ended(self) -> bool:
        return self._stop.is_set() or self._closed.is_set()

    def _run(self, wait: Callable[[int, float], int], seen: int,
             method: weakref.WeakMethod[Any], poll_interval: float, name: str) -> None:
        while not self._ended():
            before, seen = seen, wait(seen, poll_interval)
            bound = method()
            if bound is None or self._ended():
                return
            try:
                bound(seen if seen > before else None)
            except Exception:
                if self._ended():  # cancelled, or the store closed, during the wake
                    return
                log.warning("%s: catching up failed, trying again", name, exc_info=True)
                self._stop.wait(min(poll_interval, 1.0))
            del bound

    def cancel(self) -> None:
        """No more wakes (one in progress finishes; it is not waited for)."""
        self._stop.set()

    def join(self, timeout: float) -> None:
        """Wait up to `timeout` s for the thread to end after a cancel: a wake in progress
        finishes first (not waited for when called from that wake itself)."""
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)


class Lease(Protocol):
    """Leadership of one job (the watch controller) among replicas. `epoch` (None: this
    store does not elect) goes with each commit the leader makes, which the store refuses
    once another leader has taken over; `lost` is set the moment the lease is gone."""

    epoch: int | None
    lost: threading.Event

    def release(self) -> None: ...


@dataclass
class SoleLease:
    """The lease of a store that runs one controller and elects none (the file store)."""

    epoch: int | None = None
    lost: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        """Nothing to give back: no other replica waits for it."""


class Store(Protocol):
    @property
    def location(self) -> str:
        """Where it is, for messages (never a password)."""

    def snapshot(self, *, lazy: bool = False, unread: bool = False) -> LiveState: ...

    def commit(self, changes: ChangeSet, *, expected: str, info: CommitInfo,
               befores: ChangeSet | None = None, stale_detail: StaleDetail | None = None,
               known: LiveState | None = None, epoch: int | None = None) -> Revision: ...

    def audit(self, record: dict[str, Any]) -> None: ...

    def audit_log(self) -> list[dict[str, Any]]: ...

    def revisions(self) -> list[int]: ...

    def revision(self, number: int) -> dict[str, Any]: ...

    def revisions_after(self, number: int, *, wait: float = 0.0) -> list[dict[str, Any]]: ...

    def get_meta(self, name: str) -> Any: ...

    def put_meta(self, name: str, value: Any) -> None: ...

    def head(self) -> int: ...

    def is_current(self, live: LiveState) -> bool: ...

    def catch_up(self, live: LiveState, revision: int) -> CaughtUp: ...

    def after_commit(self, live: LiveState, entries: ChangeSet,
                     revision: Revision) -> CaughtUp: ...

    def follow(self, method: Callable[[int | None], Any], owner: object,
               poll_interval: float) -> Following:
        """Call `method` after each change and every `poll_interval` s while `owner`
        lives, with the newest revision the store's feed knows of (None: a poll, or a store
        that does not number what it saw), so a reader already serving it does nothing."""

    def lead(self, name: str, on_lost: Callable[[], Any] | None = None) -> Lease | None:
        """Leadership of `name` if no one else holds it now (None: another replica leads);
        `on_lost` is called when it is lost."""

    def write_turn(self) -> AbstractContextManager[str | None]:
        """Held by a library or API write around catch-up, plan and commit, so that writers
        of one store in many processes take turns (a database store) instead of colliding.
        Gives the head's fingerprint as the turn began when the store reads it with the
        turn, in the same round trip (None: ask `is_current`)."""
