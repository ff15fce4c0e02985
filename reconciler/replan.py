"""Planning only what changed since the manifests and the store were last in sync (issue 26).

A plan pairs every declared resource with its live entry: at 100,000 agents, seconds of
decoding and comparing for a one-line change. The validation index's record
(`revalidate.Record`) marks each manifest file whose resources were all noops when last
planned against a live state, and which state (`synced_at`: the store and its
fingerprint). While the store still has that fingerprint, a marked file whose content is
unchanged holds noops again: same entries on both sides. So a plan looks only at the keys
of the unmarked files and at the live resources no manifest declares (deletes), with the
planner's scoped mode, over a desired state decoded from the parse cache where a rule looks.

Its findings are the validation's (which `revalidate` keeps at the cost of the change)
plus the planner's own. That equality holds when the state the plan leaves is the
manifests' state: with pruning, no live resource of a kind the manifests leave unmanaged,
a governance document live only when the manifests declare policies, the HITL and retry
policies not only live, no error (references into what is live only are the deletion
rule's, not a dangling reference). Otherwise `basis` answers None and the engine plans as
before. A property test holds every plan made here equal to a full one.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from reconciler import graph, revalidate
from reconciler.loading import DesiredState, Indexed
from reconciler.model import entrydiff, kinds
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState, Resource, ResourceKey
from reconciler.plan.model import Action, Plan
from reconciler.recorddb import Damaged
from reconciler.statchunks import stat_key
from reconciler.store import LiveState
from reconciler.validate import hitl

MAX_KEYS = 5000  # more keys to look at than this: the whole mesh is planned (and marked)
BATCH = 2048  # files compared against one live snapshot, which is then let go
# From this many declared resources, a plan no mark serves compares every file first (in
# bounded memory) and plans what differs; a smaller mesh is planned whole, every noop
# listed, as a first plan always was.
COMPARE_FROM = 2000


@dataclass(slots=True)
class Basis:
    """What a plan of indexed manifests starts from: the manifests' state (decoded when
    asked for), the keys to plan (None: the whole mesh) and who refers to whom live."""

    indexed: Indexed
    desired: MeshState
    keys: frozenset[ResourceKey] | None
    users: graph.UserIndex | None
    synced_at: str  # the live state planned against, as the record names it
    declared: int  # resources the manifests declare
    # The files marked in sync at the record's older state (`moved_from`) that declare a
    # resource the store's revisions changed since: looked at again when marking.
    moved_from: str | None = None
    moved_files: frozenset[str] = frozenset()

    def unchanged(self, plan: Plan) -> int:
        """Declared resources the plan knows are noops without listing them."""
        if self.keys is None:
            return 0
        listed = sum(1 for change in plan.changes if change.action is not Action.DELETE)
        return self.declared - listed


def basis(indexed: Indexed, live: LiveState, store_id: str,
          changed_since: Callable[[str], frozenset[ResourceKey] | None] | None = None,
          fresh: Callable[[], LiveState] | None = None) -> Basis | None:
    """The basis of a pruning plan of `indexed` against `live`, or None when the
    validation's findings are not the plan's (see the module's docstring).
    `changed_since(fingerprint)`: the resources the store's revisions changed from that
    state to `live` (None: unknown, as after a foreign edit). A file marked in sync at
    that state holds noops now unless it declares one of them: a write through the API or
    another apply costs the next plan those resources, not the whole mesh. `fresh()`: a
    new lazy snapshot of the store (as `live`): when no mark can be carried over (the first
    plan, a foreign edit), every file is compared with it file by file (`_compare_all`)
    and marked, and the plan looks at what differs."""
    if indexed.validated.errors or live.diagnostics:
        return None
    order = indexed.order()
    declared_kinds = order.kinds()
    for kind in Kind:
        if kinds.info(kind).opt_in and kind not in declared_kinds and live.state.of_kind(kind):
            return None  # kept live as it is: part of the state the plan leaves
    if Kind.GOVERNANCE_POLICY in live.kinds_kept() \
            and Kind.GOVERNANCE_POLICY not in declared_kinds:
        return None  # governed live, by no declared policy: the plan judges access so
    if any(key in live.state and key not in order
           for key in (hitl.POLICY_KEY, graph.RETRY_POLICIES)):
        return None  # the rules read the live one while it is being deleted
    desired = indexed.state(order)
    synced_at = state_name(store_id, live.fingerprint)
    record = indexed.record
    moved: frozenset[ResourceKey] = frozenset()
    moved_from = None
    if record.synced_at != synced_at:
        found = _moved(record.synced_at, store_id, changed_since)
        if found is not None:
            moved, moved_from = found, record.synced_at
        elif fresh is None or len(order) < COMPARE_FROM or not _compare_all(
                indexed, live.fingerprint, synced_at, fresh):
            return Basis(indexed, desired, None, None, synced_at, len(order))
    try:
        record.load(record.unsynced)
        keys = {revalidate.key_of(text) for name in record.unsynced
                if (kept := record.file(name)) is not None for text in kept.keys}
    except Damaged:
        return None
    moved_files = frozenset(order[key] for key in moved if key in order)
    keys |= moved
    for kind in kinds.KIND_ORDER:  # live only: to delete (set arithmetic: 100,000 names)
        declared = order.by_kind.get(kind.value, {})
        keys.update(ResourceKey(kind, name)
                    for name in live.state.of_kind(kind).keys() - declared.keys())
    if len(keys) > MAX_KEYS:
        return Basis(indexed, desired, None, None, synced_at, len(order))
    live.state.prefetch(keys)  # the entries a lazy store has not read, in one read
    # The record's index is the manifests'; live, the keys planned refer as they do there.
    users = graph.Adjusted(revalidate.Referrers(record.referrers), keys, desired, live.state)
    return Basis(indexed, desired, frozenset(keys), users, synced_at, len(order),
                 moved_from, moved_files)


def _compare_all(indexed: Indexed, fingerprint: str, synced_at: str,
                 fresh: Callable[[], LiveState]) -> bool:
    """Mark every file whose resources are all noops against the live state (the
    planner's own test: `entrydiff.field_changes` finds nothing), at `synced_at`. Files
    go by `BATCH`: each batch's resources decoded from the parse cache and its live
    entries read from a snapshot of its own (the same fingerprint), both let go before
    the next, so a whole-mesh comparison holds one batch at a time, not 100,000 agents
    twice. False (nothing marked) when the store moved meanwhile or the record is not
    believed: then the whole mesh is planned."""
    record = indexed.record
    try:
        files = record.files()
    except Damaged:
        return False
    names = list(files)
    for start in range(0, len(names), BATCH):
        batch = {name: files[name] for name in names[start:start + BATCH]}
        declared = {name: indexed.resources_of(name, kept.digest) if kept.digest else None
                    for name, kept in batch.items()}
        live = fresh()
        if live.fingerprint != fingerprint:
            return False
        live.state.prefetch(resource.key for found in declared.values() for resource in
                            found or ())
        for name, found in declared.items():
            record.mark(name, found is not None and all(
                _noop(resource, live.state) for resource in found))
        del live, declared
    record.synced_at = synced_at
    indexed.keep(record)
    return True


def _noop(resource: Resource, live: MeshState) -> bool:
    before = live.get(resource.key)
    return before is not None and not entrydiff.field_changes(resource.kind, before.entry,
                                                                resource.entry)


def _moved(synced_at: str | None, store_id: str,
           changed_since: Callable[[str], frozenset[ResourceKey] | None] | None
           ) -> frozenset[ResourceKey] | None:
    """What the store changed since the record's state, when that state is this store's
    and its revisions say (None: plan the whole mesh)."""
    if synced_at is None or changed_since is None:
        return None
    store, _, fingerprint = synced_at.partition("#")
    if state_name(store_id, fingerprint) != synced_at:
        return None  # another store's state
    return changed_since(fingerprint)


def mark_planned(found: Basis, plan: Plan, loaded: DesiredState | None = None) -> None:
    """Record which files the plan found all noops, against the state it was made from.
    `loaded`: the manifests as the plan read them again (a full load), when it did; a file
    is marked only if it was read as validated (same digest, or served by stat unchanged)."""
    if found.keys is None:
        noops = {revalidate.key_text(change.key) for change in plan.changes
                 if change.action is Action.NOOP}
        _mark(found, found.synced_at, lambda keys: all(key in noops for key in keys),
              None if loaded is None else functools.partial(_read_as_validated, loaded))
        return
    changed = {revalidate.key_text(change.key) for change in plan.changes
               if change.action.is_change}
    _mark(found, found.synced_at, lambda keys: not any(key in changed for key in keys))


def _read_as_validated(loaded: DesiredState, name: str, kept: revalidate.FileRecord) -> bool:
    if name in loaded.digests:
        return loaded.digests[name] == kept.digest
    stat = loaded.stats.get(name)
    return name in loaded.in_sync and stat is not None and stat_key(stat) == kept.stat


def mark_applied(found: Basis, store_id: str, fingerprint: str) -> None:
    """After the plan's commit every declared resource is live as declared."""
    _mark(found, state_name(store_id, fingerprint), lambda keys: True, everything=True)


def state_name(store_id: str, fingerprint: str) -> str:
    """A live state as the record names it: the store (hashed: a database URL may hold a
    password, and the record is a file) and its fingerprint."""
    store = hashlib.blake2b(store_id.encode(), digest_size=12).hexdigest()
    return f"{store}#{fingerprint}"


def _mark(found: Basis, synced_at: str, in_sync: Callable[[list[str]], bool],
          as_validated: Callable[[str, revalidate.FileRecord], bool] | None = None, *,
          everything: bool = False) -> None:
    """Mark the files in sync at `synced_at` (`in_sync` of their keys; `everything`: all
    readable files); a file marked at the same state stays marked, so then only the
    unmarked ones are looked at. Recorded only when a mark changed."""
    record = found.indexed.record
    same_state = record.synced_at == synced_at
    # Moved on by the store's own revisions: the marks stand but for the files declaring
    # what they changed (`Basis.moved_files`), looked at with the unmarked ones.
    carried = not same_state and not everything and found.moved_from is not None \
        and record.synced_at == found.moved_from
    touched = not same_state
    try:
        if same_state or carried:
            looked_at = [*record.unsynced, *(found.moved_files if carried else ())]
            record.load(looked_at)
            files = {name: kept for name in dict.fromkeys(looked_at)
                     if (kept := record.file(name)) is not None}
        elif everything:  # after an apply
            record.load(record.problems)
            unreadable = {name for name in record.problems
                          if (kept := record.file(name)) is not None and not kept.digest}
            record.unsynced = unreadable
            files = {}
        else:
            files = record.files()
    except Damaged:
        return  # not believed: the next validation reads the files again
    for name, kept in files.items():
        synced = (kept.synced and same_state) or (
            bool(kept.digest) and (as_validated is None or as_validated(name, kept))
            and in_sync(kept.keys))
        if synced != kept.synced:
            record.mark(name, synced)
            touched = True
    if touched:
        record.synced_at = synced_at
        found.indexed.keep(record)
