"""The engine: the one place that chains load -> validate -> plan -> apply (and rollback).

Every shell (CLI, API, panel, watch loop, library) calls these functions and nothing below
them, so a rule can never be skipped by one entry point; the library's and the API's writes
are planned by `writes` and committed here, by `apply_plan`.

Loading the manifests (parse cache, workers, sync record) is `loading`'s; the engine chains
it with the live read, the plan and the commit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler import access, applying, graph, loading, replan, validate
from reconciler import store as store_
from reconciler.errors import (
    Diagnostic,
    MeshctlError,
    PlanError,
    sort_key,
)
from reconciler.gcpause import gc_paused
from reconciler.loading import (
    DesiredState,
    Validated,
    load_desired,
    read_manifest_file,
    record_in_sync,
    validate_files,
)
from reconciler.manifests import layers, loader
from reconciler.model import fields
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState, Resource, ResourceKey
from reconciler.plan import compute, planner
from reconciler.plan.model import Action, Plan
from reconciler.store import LiveState, Location, Store

__all__ = ["DEFAULT_MAX_DELETES", "AccessView", "DesiredState", "PlanResult",
           "RevertConflict", "Validated", "access_view", "apply_plan", "git_commit_of",
           "load_desired", "load_live", "make_plan", "plan_from", "plan_scope",
           "read_manifest_file", "record_in_sync", "restore_plan", "revert_plan",
           "rollback_plan", "undo_note", "validate_files", "validate_live"]

DEFAULT_MAX_DELETES = applying.DEFAULT_MAX_DELETES


class RevertConflict(PlanError):
    """A revision cannot be reverted alone: a resource it changed was changed again since
    (by a later revision, or outside meshctl). `conflicts` names each: `kind`, `name`, and
    `revision`, the latest revision that changed it again (None: changed outside meshctl)."""

    def __init__(self, message: str, conflicts: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.conflicts = conflicts


@dataclass(slots=True)
class PlanResult:
    """A plan with what it was computed from. `errors` non-empty means there is no plan."""

    desired: DesiredState
    live: LiveState
    plan: Plan | None
    diagnostics: list[Diagnostic]
    timings: dict[str, float] = field(default_factory=dict)
    paths: tuple[str, ...] = ()  # the manifests it was planned from (none for a rollback)
    basis: replan.Basis | None = None  # when planned from the validation index

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]


def plan_scope(desired: MeshState, live: LiveState, *,
               keys: Iterable[ResourceKey] | None = None,
               referrers: graph.UserIndex | None = None, prune: bool = True,
               deny_breaking: bool = False, deny_access_widening: bool = False,
               meta: Mapping[str, Any] | None = None,
               rules_by_subject: Mapping[str, access.RulesBySubject] | None = None
               ) -> planner.Planned:
    """The one way a plan is made: `desired` against `live` (a store's read, whose
    fingerprint the plan is fenced by), over the whole mesh or just `keys` (when every other
    resource is known to be in sync; `referrers` indexes `live`, built when not given);
    `rules_by_subject`: where `desired`'s large access policies' rules are found by subject
    (a validation record's), so that they need not be read whole.

    Every caller (the CLI's plan and apply, rollback, the watch loop's sync, the library's
    and the API's writes) comes through here, so each hands the planner the same inputs:
    which registries exist live (C008) included, whoever asks."""
    if keys is None:
        scope = planner.WHOLE_MESH
    else:
        scope = planner.Scope.of(keys, referrers if referrers is not None
                                 else graph.Referrers.build(live.state))
        live.state.prefetch(scope.keys or ())  # a lazy store's entries, in one read
    return planner.make(desired=desired, live=live.state, live_fingerprint=live.fingerprint,
                        scope=scope, prune=prune, deny_breaking=deny_breaking,
                        deny_access_widening=deny_access_widening, meta=meta,
                        kept=live.kinds_kept(), rules_by_subject=rules_by_subject)


def make_plan(paths: Sequence[str | os.PathLike[str]], store: Store | Location, *,
              prune: bool = True, max_bytes: int = loader.DEFAULT_MAX_BYTES,
              use_cache: bool = True, jobs: int | None = None,
              deny_breaking: bool = False, deny_access_widening: bool = False) -> PlanResult:
    """Manifests + live registries -> a plan, after validating what would remain live.

    The mesh-wide rules run over the state the plan leaves behind: the manifests, plus (with
    `prune=False`) the live resources no manifest declares, so a reference to a resource that
    stays live only because it is not pruned is valid. Unreadable registries or invalid
    manifests give no plan.
    """
    opened = store_.open_store(store)
    basis: replan.Basis | None = None
    started = time.perf_counter()
    with gc_paused():
        # (entries read where the plan looks; read while the manifests' stats are taken)
        live_once = _Once(functools.partial(opened.snapshot, lazy=True, unread=True))
        indexed = loading.validate_indexed(paths, max_bytes=max_bytes, jobs=jobs,
                                           alongside=live_once.ahead) \
            if prune and use_cache else None
        if indexed is not None and not indexed.validated.errors:
            timings = {"validate": time.perf_counter() - started}
            started = time.perf_counter()
            live = live_once()
            timings["live"] = time.perf_counter() - started
            fingerprint = live.fingerprint
            basis = replan.basis(
                indexed, live, store_.identity(opened),
                lambda before: store_.changed_between(opened, before, fingerprint),
                lambda: opened.snapshot(lazy=True, unread=True))
            if basis is not None and basis.keys is not None:
                return _replanned(basis, live, opened, paths, timings,
                                  deny_breaking=deny_breaking,
                                  deny_access_widening=deny_access_widening)
        # The whole mesh is compared: every entry decoded, at once rather than one by one.
        desired, read = loading.load(paths, max_bytes=max_bytes, use_cache=use_cache, jobs=jobs,
                                     mesh_checks=False, store_id=store_.identity(opened),
                                     read_live=opened.snapshot)
    assert read is not None
    result = plan_from(desired, read, location=opened.location, paths=paths, prune=prune,
                       deny_breaking=deny_breaking, deny_access_widening=deny_access_widening)
    if basis is not None and result.plan is not None:
        # The next plan starts from what this one found in sync.
        replan.mark_planned(basis, result.plan, desired)
        result.basis = basis
    return result


class _Once:
    """`work`'s result, found once: ahead of time on another thread (`ahead`), or when
    first asked for. A failure ahead of time is not kept: asked for, `work` runs again
    here and raises where the caller expects it."""

    def __init__(self, work: Callable[[], LiveState]) -> None:
        self._work = work
        self._found: LiveState | None = None

    def ahead(self) -> None:
        with contextlib.suppress(Exception):
            self._found = self._work()

    def __call__(self) -> LiveState:
        if self._found is None:
            self._found = self._work()
        return self._found


def _replanned(found: replan.Basis, live: LiveState, opened: Store,
               paths: Sequence[str | os.PathLike[str]], timings: dict[str, float], *,
               deny_breaking: bool, deny_access_widening: bool) -> PlanResult:
    """The plan of what changed since the manifests and the store were last in sync
    (`replan`): the keys `found` names, the rest counted as unchanged."""
    validated = found.indexed.validated
    started = time.perf_counter()
    meta = {"registries": opened.location, "manifests": [str(p) for p in paths],
            "git_commit": git_commit_of(paths)}
    planned = plan_scope(found.desired, live, keys=found.keys, referrers=found.users,
                         deny_breaking=deny_breaking,
                         deny_access_widening=deny_access_widening, meta=meta,
                         rules_by_subject=found.indexed.record.rules_by_subject())
    timings["diff"] = time.perf_counter() - started
    diagnostics = sorted(dict.fromkeys(validated.diagnostics + planned.diagnostics),
                         key=sort_key)
    desired = DesiredState(found.desired, validated.diagnostics, list(found.indexed.stats),
                           timings)
    plan = planned.plan
    if plan is None or any(d.is_error for d in diagnostics):
        return PlanResult(desired, live, None, diagnostics, timings)
    plan = dataclasses.replace(plan, warnings=tuple(d for d in diagnostics if not d.is_error),
                               unchanged=found.unchanged(plan))
    replan.mark_planned(found, plan)
    return PlanResult(desired, live, plan, diagnostics, timings,
                      tuple(str(p) for p in paths), found)


def plan_from(desired: DesiredState, live: LiveState, *, location: str,
              paths: Sequence[str | os.PathLike[str]], prune: bool = True,
              deny_breaking: bool = False, deny_access_widening: bool = False) -> PlanResult:
    """`make_plan` for manifests already read (`load_desired(..., mesh_checks=False)`, or a
    watch loop's state kept in memory) and live registries already read. Breaking schema
    changes are warnings, or refusals with `deny_breaking`; so are changes that widen
    access, with `deny_access_widening`."""
    timings = dict(desired.timings)
    meta = {"registries": location, "manifests": [str(p) for p in paths],
            "git_commit": git_commit_of(paths)}
    planned = plan_scope(desired.state, live, prune=prune, deny_breaking=deny_breaking,
                         deny_access_widening=deny_access_widening,
                         meta=meta)
    timings["validate"] = timings.get("validate", 0.0) + planned.timings["validate"]
    if "diff" in planned.timings:
        timings["diff"] = planned.timings["diff"]
    found = planned.diagnostics
    if layers.layered(paths):
        found = layers.note_base(found, desired.state)
    diagnostics = sorted(live.diagnostics + desired.diagnostics + found, key=sort_key)
    plan = planned.plan
    if plan is None or any(d.is_error for d in diagnostics):
        return PlanResult(desired, live, None, diagnostics, timings)
    plan = dataclasses.replace(plan, warnings=tuple(d for d in diagnostics if not d.is_error))
    if desired.records and not live.diagnostics:
        noops = {change.key for change in plan.changes if change.action is Action.NOOP}
        record_in_sync(desired, live.fingerprint, lambda key: key in noops)
    return PlanResult(desired, live, plan, diagnostics, timings, tuple(str(p) for p in paths))


def apply_plan(plan: Plan, store: Store | Location, *, source: str = "cli",
               max_deletes: int = DEFAULT_MAX_DELETES, note: str | None = None,
               planned: PlanResult | None = None,
               known: LiveState | None = None,
               epoch: int | None = None) -> store_.Revision | None:
    """Commit `plan` as one revision (`applying.commit_plan`: refused before a byte is
    written when it holds refusals, deletes too much, or is stale). `planned`, the result
    the plan came from, lets a successful commit record its manifests as in sync; its live
    state (or `known`, the state a plan was made from) spares the store work it already
    did."""
    opened = store_.open_store(store)
    revision = applying.commit_plan(
        plan, opened, source=source, max_deletes=max_deletes, note=note,
        known=known or (planned.live if planned is not None else None), epoch=epoch)
    if revision is not None and planned is not None and planned.plan is plan:
        # The registries now hold every declared resource as the manifests say.
        if planned.desired.records:
            record_in_sync(planned.desired, revision.fingerprint_after, lambda key: True)
        if planned.basis is not None:
            replan.mark_applied(planned.basis, store_.identity(opened),
                                revision.fingerprint_after)
    return revision


def rollback_plan(store: Store | Location, number: int, *, deny_breaking: bool = False,
                  deny_access_widening: bool = False) -> PlanResult:
    """The plan that restores the registries to their state right after revision `number`
    ("restore to here"): every later revision's changes undone, checked by the same rules
    as any plan, `deny_breaking` and `deny_access_widening` included (an undo is a change
    like any other: it can break callers or grant more). Revision 0 is the state before
    the first recorded revision (each resource's `before` in it), where the history starts
    at revision 1."""
    opened = store_.open_store(store)
    known = opened.revisions()
    if number not in known and not (number == 0 and known and known[0] == 1):
        opened.revision(number)  # raises, naming the revisions there are
    live = opened.snapshot()
    target = live.state.copy()
    for later in reversed([n for n in known if n > number]):
        for change in opened.revision(later)["changes"]:
            _put_back(target, live, ResourceKey(Kind(change["kind"]), change["name"]),
                      change["before"])
    return _undo_plan(opened, live, target, {"rollback_to": number,
                                             "undo": {"action": "restore", "revision": number}},
                      deny_breaking=deny_breaking, deny_access_widening=deny_access_widening)


def restore_plan(store: Store | Location, number: int, *, deny_breaking: bool = False,
                 deny_access_widening: bool = False) -> PlanResult:
    """`rollback_plan` by the name the panel gives it: "Restore to here"."""
    return rollback_plan(store, number, deny_breaking=deny_breaking,
                         deny_access_widening=deny_access_widening)


def revert_plan(store: Store | Location, number: int, *, deny_breaking: bool = False,
                deny_access_widening: bool = False) -> PlanResult:
    """The plan that undoes revision `number` alone ("revert this revision"): each resource
    it changed goes back to its entry before it, every later revision's changes kept;
    checked and committed by the same rules as any plan.

    Refused (`RevertConflict`, nothing planned) when a resource it changed is no longer as
    it left it: the message names the resource and the later revision that changed it
    again (or says it changed outside meshctl); revert that one first, or restore."""
    opened = store_.open_store(store)
    record = opened.revision(number)  # raises, naming the revisions there are
    live = opened.snapshot()
    target = live.state.copy()
    later: list[dict[str, Any]] | None = None
    conflicts: list[dict[str, Any]] = []
    for change in record["changes"]:
        key = ResourceKey(Kind(change["kind"]), change["name"])
        current = live.state.get(key)
        if (current.entry if current is not None else None) != change["after"]:
            if later is None:
                later = [opened.revision(n) for n in opened.revisions() if n > number]
            by = [r["revision"] for r in later if any(
                (c["kind"], c["name"]) == (change["kind"], change["name"])
                for c in r["changes"])]
            conflicts.append({"kind": key.kind.value, "name": key.name,
                              "revision": by[-1] if by else None})
            continue
        _put_back(target, live, key, change["before"])
    if conflicts:
        raise RevertConflict(_conflict_message(number, conflicts), conflicts)
    return _undo_plan(opened, live, target, {"revert_of": number,
                                             "undo": {"action": "revert", "revision": number}},
                      deny_breaking=deny_breaking, deny_access_widening=deny_access_widening)


def _conflict_message(number: int, conflicts: list[dict[str, Any]]) -> str:
    parts = []
    for found in conflicts:
        name = f"{found['kind']} {found['name']}"
        parts.append(f"{name} was changed again in revision {found['revision']}"
                     if found["revision"] is not None
                     else f"{name} was changed outside meshctl")
    return (f"revision {number} cannot be reverted alone: {'; '.join(parts)} since. "
            "Revert the later revision first, or restore to a revision instead; nothing "
            "was planned")


def _put_back(target: MeshState, live: LiveState, key: ResourceKey,
              entry: dict[str, Any] | None) -> None:
    """`key` in `target` as `entry` (None: absent), keeping the live resource's source."""
    if entry is None:
        target.discard(key)
        return
    previous = live.state.get(key)
    target.add(Resource(key, fields.complete(key.kind, entry),
                        previous.source if previous else None))


def _undo_plan(opened: Store, live: LiveState, target: MeshState, meta: dict[str, Any], *,
               deny_breaking: bool, deny_access_widening: bool) -> PlanResult:
    """The plan from `live` to `target` (a restore's or a revert's), after the mesh-wide
    rules over `target`; `meta` says what it undoes (kept in the revision it commits)."""
    diagnostics = [d for d in validate.validate_state(target) if d.is_error]
    empty = DesiredState(target, diagnostics, [])
    if diagnostics:
        return PlanResult(empty, live, None, diagnostics)
    planned = plan_scope(target, live, meta={"registries": opened.location, **meta},
                         deny_breaking=deny_breaking, deny_access_widening=deny_access_widening)
    return PlanResult(empty, live, planned.plan, planned.diagnostics)


def undo_note(plan: Plan) -> str | None:
    """The note a restore's or a revert's revision is recorded with ("restore to revision
    3", "revert of revision 5"), from the plan's `undo`; None for any other plan."""
    undo = plan.meta.get("undo")
    if not isinstance(undo, dict):
        return None
    return (f"restore to revision {undo['revision']}" if undo.get("action") == "restore"
            else f"revert of revision {undo['revision']}")


@dataclass(slots=True)
class AccessView:
    """A state to ask access questions of, its governance, and what it was read from."""

    state: MeshState
    governance: access.Governance
    source: str  # "manifests" or "live"
    diagnostics: list[Diagnostic] = field(default_factory=list)


def access_view(paths: Sequence[str | os.PathLike[str]] | None,
                store: Store | Location | None) -> AccessView:
    """What `meshctl access` judges: the live registries (`paths` None), or the manifests
    as applying them would leave the mesh (kinds no manifest declares stay as they are
    live, governance included, when the store can be read). `diagnostics`: why the
    manifests give no state (errors), if they do not."""
    if paths is None:
        assert store is not None
        registries = store_.read_live(store)
        return AccessView(registries.state, access.Governance.of_live(registries), "live",
                          [d for d in registries.diagnostics if d.is_error])
    desired = load_desired(paths, mesh_checks=False)
    errors = [d for d in desired.diagnostics if d.is_error]
    state = desired.state
    governed: bool | None = None
    if store is not None and not errors:
        live: LiveState | None = None
        with contextlib.suppress(MeshctlError):  # no store to read: the manifests alone
            live = store_.read_live(store)
        if live is not None and not live.diagnostics:
            state = compute.remaining_state(desired.state, live.state, prune=True)
            if not desired.state.of_kind(Kind.GOVERNANCE_POLICY):
                governed = access.Governance.of_live(live).governed
    governance = access.Governance.of(state, governed)
    return AccessView(state, governance, "manifests", errors)


def git_commit_of(paths: Sequence[str | os.PathLike[str]]) -> str | None:
    """The commit checked out where the manifests live, when they are in a git work tree."""
    for raw in paths:
        folder = Path(raw) if Path(raw).is_dir() else Path(raw).parent
        try:
            done = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"],
                                  capture_output=True, text=True, timeout=5, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        if done.returncode == 0:
            return done.stdout.strip() or None
    return None


def load_live(store: Store | Location) -> LiveState:
    """The live registries, with the problems found while reading them.

    Read through the store: an interrupted commit is finished first, and the read waits for
    a commit in progress, so no reader ever sees half of one. A registries folder that does
    not exist reads as empty (the CLI refuses that before asking)."""
    return store_.read_live(store)


def validate_live(live: LiveState) -> list[Diagnostic]:
    """Read problems plus every rule over the live state."""
    found = live.diagnostics + validate.check_live(live.state) + validate.validate_state(
        live.state)
    found.sort(key=sort_key)
    return found


