"""A library write: the changes it makes, judged and committed against the freshest
snapshot, again and again while other writers keep committing first.

Each write is a plan of a few objects through the engine (`writes.commit_changes`: the
same rules, atomic commit and history as any plan). What a write means is a function of the
snapshot it is judged on (`ChangesFor`), so a retry after another writer's commit judges
the change anew on what that writer left.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from reconciler import store as store_
from reconciler import writes
from reconciler.errors import ChangeRejected, PreconditionFailed, StalePlan, StoreError
from reconciler.library.cache import SnapshotCache
from reconciler.library.snapshot import Entry, Snapshot, version_of
from reconciler.model import kinds
from reconciler.model.kinds import Kind
from reconciler.model.resource import ResourceKey
from reconciler.plan.model import Plan
from reconciler.writes import Intent

# A write that finds the registries moved on (another writer committed first) re-reads and
# tries again, after a short random pause that grows with each attempt, so that writers in
# many processes on one database take turns instead of colliding again.
WRITE_ATTEMPTS = 50
WRITE_BACKOFF = 0.002  # seconds per attempt, at most; capped at 50 ms

Changes = dict[ResourceKey, tuple[Entry | None, Intent]]
ChangesFor = Callable[[Snapshot], Changes]


@dataclass(frozen=True, slots=True)
class EntryChange:
    """One entry of a batch: written whole (`entry`), or deleted (None); `expected_version`
    (the version it was read at) makes it conditional, and `create` requires that it does
    not exist yet (a form adding one never replaces one made meanwhile)."""

    kind: Kind
    name: str
    entry: Entry | None
    expected_version: str | None = None
    create: bool = False


@dataclass(frozen=True, slots=True)
class Fence:
    """What a batch is conditional on, beside each item's version: the registries as a
    plan found them (`token`, its live fingerprint: Save commits exactly the plan shown),
    and the version of all the entries of some kinds together (`kind_versions`, as the
    governance document and the processor pipeline answer it). 412 when one moved."""

    token: str | None = None
    kind_versions: Mapping[Kind, str] | None = None

    def check(self, snapshot: Snapshot) -> None:
        current = snapshot.live.fingerprint
        if self.token is not None and self.token != current:
            raise PreconditionFailed(
                "the registries changed since that plan was made; nothing was written: "
                "plan again", current)
        for kind, expected in (self.kind_versions or {}).items():
            now = snapshot.kind_version(kind)
            if now != expected:
                plural = kinds.info(kind).plural.replace("-", " ")
                raise PreconditionFailed(f"the {plural} changed since version {expected} "
                                         f"(now {now}); read them again", now)


class Writer:
    """Commits library writes to `store()` as `source`, serving each at once through
    `cache`; with `deny_breaking`, a write that breaks its callers is refused."""

    def __init__(self, cache: SnapshotCache, store: Callable[[], store_.Store], *,
                 source: str, deny_breaking: bool, deny_access_widening: bool = False) -> None:
        self._cache, self._store = cache, store
        self.source, self.deny_breaking = source, deny_breaking
        self.deny_access_widening = deny_access_widening

    def create(self, kind: Kind, model: BaseModel | Mapping[str, Any]) -> None:
        entry = as_entry(model)
        id_field = kinds.info(kind).id_field
        assert id_field is not None
        name = entry.get(id_field)
        if not isinstance(name, str):
            raise ChangeRejected(f"a new {kinds.info(kind).label} needs a string '{id_field}'")
        key = ResourceKey(kind, name)
        self.write(lambda _: {key: (entry, Intent.CREATE)}, creating=kind)

    def update(self, kind: Kind, name: str, model: BaseModel | Mapping[str, Any],
               expected_version: str | None = None, intent: Intent = Intent.UPDATE) -> None:
        """Replace one entry (`intent` PUT: or create it), keeping its key order."""
        key = ResourceKey(kind, name)
        new = as_entry(model)

        def changes(snapshot: Snapshot) -> Changes:
            before = snapshot.live.state.get(key)
            check_version(key, before.entry if before else None, expected_version)
            return {key: (in_order_of(before.entry if before else None, new), intent)}

        self.write(changes)

    def delete(self, kind: Kind, name: str, expected_version: str | None = None) -> None:
        key = ResourceKey(kind, name)

        def changes(snapshot: Snapshot) -> Changes:
            before = snapshot.live.state.get(key)
            check_version(key, before.entry if before else None, expected_version)
            return {key: (None, Intent.DELETE)}

        self.write(changes)

    def replace_kind(self, kind: Kind, named: Mapping[str, Entry],
                     expected_version: str | None, what: str) -> None:
        """As one plan: each entry `named` is created or updated, each live one not named
        deleted; `expected_version` is the kind's (`Snapshot.kind_version`) when given."""

        def changes(snapshot: Snapshot) -> Changes:
            live = snapshot.live.state.of_kind(kind)
            current = snapshot.kind_version(kind)
            if expected_version is not None and expected_version != current:
                raise PreconditionFailed(f"{what} changed since version {expected_version}; "
                                         "read them again", current)
            found: Changes = {}
            for name, entry in named.items():
                before = live.get(name)
                found[ResourceKey(kind, name)] = (
                    in_order_of(before.entry if before else None, entry), Intent.PUT)
            for name in live:
                if name not in named:
                    found[ResourceKey(kind, name)] = (None, Intent.DELETE)
            return found

        self.write(changes)

    def batch(self, items: Iterable[EntryChange], *, dry_run: bool = False,
              fence: Fence | None = None) -> Plan:
        """Several entries written (or deleted) as one plan and one revision; `dry_run`
        plans them against the current snapshot and commits nothing; `fence` makes the
        whole batch conditional (a plan's token, kinds' versions)."""
        chosen = list(items)

        def changes(snapshot: Snapshot) -> Changes:
            if fence is not None:
                fence.check(snapshot)
            found: Changes = {}
            for item in chosen:
                key = ResourceKey(item.kind, item.name)
                if key in found:
                    raise ChangeRejected(f"{key.describe()} is named twice in one change")
                before = snapshot.live.state.get(key)
                check_version(key, before.entry if before else None, item.expected_version)
                found[key] = ((None, Intent.DELETE) if item.entry is None else
                              (in_order_of(before.entry if before else None,
                                           as_entry(item.entry)),
                               Intent.CREATE if item.create else Intent.PUT))
            return found

        if dry_run:
            return self.preview(changes)
        return self.write(changes)

    def preview(self, changes_for: ChangesFor) -> Plan:
        """The plan a write would commit, judged on the current snapshot; nothing written."""
        cache = self._cache
        if not cache.loaded:
            cache.load()
        cache.sync(strict=True)
        snapshot = cache.current
        return writes.plan_changes(snapshot.live, snapshot.referrers, changes_for(snapshot),
                                   deny_breaking=self.deny_breaking,
                                   deny_access_widening=self.deny_access_widening,
                                   case_twin=snapshot.case_twin)

    def write(self, changes_for: ChangesFor, *, creating: Kind | None = None) -> Plan:
        """Plan and commit `changes_for(snapshot)` against the freshest snapshot; when the
        registries moved on meanwhile (another process), read what changed and try again.
        A rejection is final only once the snapshot it was judged on is known current.
        `creating`: the kind of the entry it creates, if any (its index of folded names
        is built before the writers' turn is taken, with the reverse index)."""
        cache = self._cache
        if not cache.loaded:
            cache.load()  # as upstream's load_all(): following starts here too
        store = self._store()
        ready(cache.current, creating)
        with cache.lock, store.write_turn() as head:
            # In our turn: what the writers before us committed.
            cache.sync(strict=True, head=head)
            for attempt in range(WRITE_ATTEMPTS):
                snapshot = cache.current
                changes = changes_for(snapshot)
                try:
                    plan, revision = writes.commit_changes(
                        store, snapshot.live, snapshot.referrers, changes,
                        source=self.source, deny_breaking=self.deny_breaking,
                        deny_access_widening=self.deny_access_widening,
                        case_twin=snapshot.case_twin)
                except StalePlan:
                    time.sleep(random.uniform(0, min(0.05, WRITE_BACKOFF * (attempt + 1))))
                    cache.sync(strict=True)
                    continue
                except ChangeRejected:  # judged on the store as it is now, or try again
                    cache.sync(strict=True)
                    if cache.current.live.fingerprint == snapshot.live.fingerprint:
                        raise
                    continue
                if revision is not None:  # what was written: the plan's entries, with
                    # the defaults of the fields left out (as the store holds them)
                    cache.committed(snapshot, {change.key: change.after
                                               for change in plan.actionable}, revision)
                return plan
        raise StoreError(f"the registries changed under every one of {WRITE_ATTEMPTS} "
                         "attempts to write; nothing was written")


def ready(snapshot: Snapshot, creating: Kind | None) -> None:
    """The indexes a write plans with, built on `snapshot` outside the writers' turn: at
    100,000 agents the reverse index takes seconds, which every other process's writer
    would wait out in the turn; the snapshots caught up to in the turn carry them over."""
    snapshot.referrers  # noqa: B018 (built on first use)
    if creating is not None:
        snapshot.case_twin(ResourceKey(creating, ""))


def check_version(key: ResourceKey, entry: Entry | None, expected: str | None) -> None:
    if expected is None or entry is None:
        return  # unconditional (absent: the write's own precondition says so)
    current = version_of(entry)
    if current != expected:
        raise PreconditionFailed(f"{key.describe()} changed since version {expected} (now "
                                 f"{current}); read it again and reapply the change", current)


def as_entry(value: BaseModel | Mapping[str, Any]) -> Entry:
    """An entry as the registry stores it: a model's fields (those set, with unknown ones
    kept), or a mapping as it is."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_unset=True, by_alias=True)
    if isinstance(value, Mapping):  # a copy: the caller's nested lists stay the caller's
        return copy.deepcopy(dict(value))
    raise ChangeRejected(f"expected a model or a mapping, not {type(value).__name__}")


def in_order_of(before: Entry | None, after: Entry) -> Entry:
    """`after` with the keys `before` had in `before`'s order, so an update rewrites only
    what changed (a model lists its fields in its own order)."""
    if before is None:
        return after
    ordered = {key: after[key] for key in before if key in after}
    ordered.update((key, value) for key, value in after.items() if key not in ordered)
    return ordered
