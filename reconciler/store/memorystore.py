"""The memory store: the live registries in this process's memory, with the same guarantees
as the file store (atomic commits against an expected revision, history, audit, a change
feed, a metadata area) and none of its I/O. For tests of everything above the store, and
for tools that plan against a state they build themselves.

Entries are kept as the JSON they were given (copied on the way in, so a caller's later
edits change nothing), in registry order: an update keeps an entry's place, a create comes
last. Headers and entries the reader could not key are kept as they were seeded.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from reconciler.errors import StalePlan, StoreError
from reconciler.model.kinds import Kind
from reconciler.model.live import LiveState
from reconciler.model.resource import MeshState, Resource, ResourceKey, Source
from reconciler.store import history
from reconciler.store.base import CaughtUp, ChangeSet, FeedFollowing, Lease, Revision, StaleDetail
from reconciler.store.history import CommitInfo


class MemoryStore:
    def __init__(self, seed: LiveState | None = None, *, name: str = "memory") -> None:
        self.location = f"memory:{name}#{uuid.uuid4().hex[:12]}"  # tokens never collide
        self._condition = threading.Condition()
        self._records: list[dict[str, Any]] = []
        self._audit: list[dict[str, Any]] = []
        self._meta: dict[str, bytes] = {}
        self._epoch = 0  # moves on with each new leader (`lead`)
        self._leaders: dict[str, _MemoryLease] = {}
        state = MeshState()
        headers: dict[Kind, dict[str, Any]] = {}
        unkeyed: dict[str, list[Any]] = {}
        if seed is not None:
            for resource in seed.state:
                state.add(Resource(resource.key, copy.deepcopy(resource.entry),
                                   Source(f"{self.location}/{resource.key}")))
            headers = copy.deepcopy(seed.headers)
            unkeyed = copy.deepcopy(seed.unkeyed)
        self._live = self._state_at(state, headers, unkeyed, 0)

    def _state_at(self, state: MeshState, headers: dict[Kind, dict[str, Any]],
                  unkeyed: dict[str, list[Any]], number: int) -> LiveState:
        """A snapshot whose revision token names the revision and what it holds."""
        token = hashlib.sha256(f"{self.location}\0{number}".encode()).hexdigest()
        return LiveState(state, headers, unkeyed, fingerprint=token,
                         place=lambda key: f"{self.location}/{key}")

    def snapshot(self, *, lazy: bool = False, unread: bool = False) -> LiveState:
        with self._condition:
            return self._live

    def commit(self, changes: ChangeSet, *, expected: str, info: CommitInfo,
               befores: ChangeSet | None = None, stale_detail: StaleDetail | None = None,
               known: LiveState | None = None, epoch: int | None = None) -> Revision:
        try:  # what a registry file can hold, copied: the caller's objects stay theirs
            given = {key: None if entry is None else orjson.loads(orjson.dumps(entry))
                     for key, entry in changes.items()}
        except TypeError as error:
            raise StoreError(f"cannot store the change as JSON: {error}") from error
        with self._condition:
            live = self._live
            if epoch is not None and epoch != self._epoch:
                raise StalePlan(f"this controller is no longer the leader (epoch {epoch}, the "
                                f"store is at {self._epoch}); nothing was written")
            if live.fingerprint != expected:
                since = self._since(expected)
                detail = stale_detail(live, since) if stale_detail else ""
                raise StalePlan("stale plan: "
                                f"{detail or 'the live registries changed since it was made'}"
                                "; re-run plan")
            state = live.state.copy()
            before_of: dict[ResourceKey, Any] = {}
            for key, entry in given.items():
                previous = state.get(key)
                before_of[key] = previous.entry if previous is not None else None
                if entry is None:
                    state.discard(key)
                else:
                    state.add(Resource(key, entry, Source(f"{self.location}/{key}")))
            number = len(self._records) + 1
            now = history.now_text()
            headers = dict(live.headers)
            for kind in {key.kind for key in given}:  # as a save of that registry file does
                if "last_updated" in headers.get(kind, {}):
                    headers[kind] = {**headers[kind], "last_updated": now}
            after = self._state_at(state, headers, live.unkeyed, number)
            record = history.record(number, now, info, live.fingerprint, after.fingerprint,
                                    given, before_of)
            self._records.append(record)
            self._audit.append(history.commit_audit(number, now, info, len(given)))
            self._live = after
            self._condition.notify_all()
        return Revision(number, live.fingerprint, after.fingerprint, (), record)

    def lead(self, name: str, on_lost: Callable[[], Any] | None = None) -> Lease | None:
        """Leadership of `name` within this process: the first to ask holds it until it
        releases it; each new leader moves the epoch on."""
        with self._condition:
            if name in self._leaders:
                return None
            self._epoch += 1
            lease = _MemoryLease(self, name, self._epoch, on_lost)
            self._leaders[name] = lease
            return lease

    def _release(self, name: str, lease: _MemoryLease) -> None:
        with self._condition:
            if self._leaders.get(name) is lease:
                del self._leaders[name]

    @contextlib.contextmanager
    def write_turn(self) -> Iterator[None]:
        """Writers take turns at the commit itself here (its lock): nothing to wait for."""
        yield None

    def _since(self, fingerprint: str) -> list[dict[str, Any]]:
        for index, record in enumerate(self._records):
            if record["fingerprint_before"] == fingerprint:
                return copy.deepcopy(self._records[index:])
        return []

    def audit(self, record: dict[str, Any]) -> None:
        with self._condition:
            self._audit.append({"time": history.now_text(), **copy.deepcopy(record)})

    def audit_log(self) -> list[dict[str, Any]]:
        with self._condition:
            return copy.deepcopy(self._audit)

    def revisions(self) -> list[int]:
        with self._condition:
            return [record["revision"] for record in self._records]

    def revision(self, number: int) -> dict[str, Any]:
        with self._condition:
            if not 1 <= number <= len(self._records):
                known = len(self._records)
                raise StoreError(f"no revision {number}; revisions: "
                                 f"{f'1..{known}' if known else 'none yet'}")
            return copy.deepcopy(self._records[number - 1])

    def revisions_after(self, number: int, *, wait: float = 0.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + wait
        with self._condition:
            while len(self._records) <= number:
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self._condition.wait(left)
            return copy.deepcopy(self._records[max(number, 0):])

    def head(self) -> int:
        with self._condition:
            return len(self._records)

    def is_current(self, live: LiveState) -> bool:
        with self._condition:
            return live.fingerprint == self._live.fingerprint

    def catch_up(self, live: LiveState, revision: int) -> CaughtUp:
        with self._condition:
            newer = self._records[max(revision, 0):]
            changed: list[ResourceKey] | None = None
            if newer and newer[0]["fingerprint_before"] == live.fingerprint:
                changed = [ResourceKey(Kind(c["kind"]), c["name"])
                           for record in newer for c in record["changes"]]
            return CaughtUp(self._live, changed, len(self._records))

    def after_commit(self, live: LiveState, entries: ChangeSet,
                     revision: Revision) -> CaughtUp:
        return self.catch_up(live, revision.number - 1)

    def follow(self, method: Callable[[int | None], Any], owner: object,
               poll_interval: float) -> FeedFollowing:
        """Call `method` after each commit (and every `poll_interval` s) while `owner` lives."""
        def wait(seen: int, timeout: float) -> int:
            newer = self.revisions_after(seen, wait=timeout)
            return int(newer[-1]["revision"]) if newer else seen

        return FeedFollowing(wait, self.head(), weakref.WeakMethod(method), owner,
                             poll_interval, "meshctl-memory-follow")

    def get_meta(self, name: str) -> Any:
        with self._condition:
            found = self._meta.get(name)
        return None if found is None else orjson.loads(found)

    def put_meta(self, name: str, value: Any) -> None:
        data = orjson.dumps(value)
        with self._condition:
            self._meta[name] = data


class _MemoryLease:
    def __init__(self, store: MemoryStore, name: str, epoch: int,
                 on_lost: Callable[[], Any] | None) -> None:
        self.epoch: int | None = epoch
        self.lost = threading.Event()
        self._store, self._name, self._on_lost = store, name, on_lost

    def release(self) -> None:
        self._store._release(self._name, self)
        self.lost.set()
